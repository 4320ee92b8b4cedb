// The model stack's CPU threads: the cores available (affinity and cgroup quota), LibTorch's intra-op and
// inter-op pools and the BLAS's pool sized to them, and OpenMP's idle workers asked to sleep.
#include "medcode/model/threads.h"

#include <dlfcn.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "medcode/util/error.h"

namespace medcode::model {

namespace fs = std::filesystem;

namespace {

std::optional<std::int64_t> parse_integer(std::string_view text) {
  std::int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

std::optional<std::string> read_text(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

std::optional<double> tighter(std::optional<double> a, std::optional<double> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

// The folder and its ancestors up to the hierarchy's mount: a parent's quota binds its children too.
template <typename ReadQuota>
std::optional<double> tightest_quota(const fs::path& mount, const std::string& relative, ReadQuota read_quota) {
  std::optional<double> quota;
  fs::path folder = mount / fs::path(relative).relative_path();
  while (true) {
    quota = tighter(quota, read_quota(folder));
    if (folder == mount || !folder.has_parent_path() || folder.parent_path() == folder) break;
    folder = folder.parent_path();
  }
  return quota;
}

std::optional<double> cgroup_quota() {
  const CgroupPaths paths = parse_proc_self_cgroup(read_text("/proc/self/cgroup").value_or(""));
  std::optional<double> quota;
  if (paths.unified) {
    quota = tightest_quota("/sys/fs/cgroup", *paths.unified, [](const fs::path& folder) {
      auto content = read_text(folder / "cpu.max");
      return content ? cpus_from_cpu_max(*content) : std::nullopt;
    });
  }
  if (!quota && paths.cpu_v1) {
    for (const char* mount : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
      quota = tighter(quota, tightest_quota(mount, *paths.cpu_v1, [](const fs::path& folder) {
        auto quota_text = read_text(folder / "cpu.cfs_quota_us");
        auto period_text = read_text(folder / "cpu.cfs_period_us");
        if (!quota_text || !period_text) return std::optional<double>();
        auto quota_us = parse_integer(trim(*quota_text));
        auto period_us = parse_integer(trim(*period_text));
        if (!quota_us || !period_us) return std::optional<double>();
        return cpus_from_cfs_quota(*quota_us, *period_us);
      }));
    }
  }
  return quota;
}

int affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
}

// OpenBLAS keeps a pool of its own, one thread per core, which LibTorch's set_num_threads leaves alone.
// Looked up at run time: the BLAS behind libblas.so.3 is whatever the system chose.
void set_blas_threads(int threads) {
  using SetThreads = void (*)(int);
  if (auto* set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(threads);
    spdlog::debug("threads: OpenBLAS {}", threads);
  }
}

// libgomp is loaded (and has read its environment) once the process holds it.
bool openmp_loaded() {
  void* handle = dlopen("libgomp.so.1", RTLD_LAZY | RTLD_NOLOAD);
  if (handle == nullptr) return false;
  dlclose(handle);
  return true;
}

// Whether libgomp's idle workers sleep. A wait policy already in the environment was there when libgomp
// read it (the user's, or one set by a host before loading the model stack); one set now counts only while
// libgomp is not loaded yet. When `medcode` links LibTorch, libgomp reads its environment before main().
bool passive_waiting() {
  const bool chosen = std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr;
  if (!chosen && openmp_loaded()) return false;
  return prefer_passive_waiting();
}

// LibTorch allows setting the inter-op threads once, before the pool starts: only the first call sets them.
void set_inter_op_threads(int threads) {
  static std::once_flag once;
  std::call_once(once, [threads] {
    try {
      torch::set_num_interop_threads(threads);
    } catch (const c10::Error& error) {
      // Someone started inter-op work first: the pool keeps its size, which only costs idle threads.
      spdlog::warn("threads: the inter-op pool has started already and keeps {} threads ({})",
                   torch::get_num_interop_threads(), error.what_without_backtrace());
    }
  });
}

}  // namespace

std::optional<double> cpus_from_cpu_max(std::string_view content) {
  content = trim(content);
  const auto space = content.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto quota_text = content.substr(0, space);
  const auto period_text = trim(content.substr(space + 1));
  if (quota_text == "max") return std::nullopt;
  auto quota = parse_integer(quota_text);
  auto period = parse_integer(period_text);
  if (!quota || !period) return std::nullopt;
  return cpus_from_cfs_quota(*quota, *period);
}

std::optional<double> cpus_from_cfs_quota(std::int64_t quota_us, std::int64_t period_us) {
  if (quota_us <= 0 || period_us <= 0) return std::nullopt;
  return static_cast<double>(quota_us) / static_cast<double>(period_us);
}

CgroupPaths parse_proc_self_cgroup(std::string_view content) {
  CgroupPaths paths;
  while (!content.empty()) {
    const auto newline = content.find('\n');
    const std::string_view line = content.substr(0, newline);
    content = newline == std::string_view::npos ? std::string_view() : content.substr(newline + 1);
    const auto first = line.find(':');
    const auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    const std::string_view id = line.substr(0, first);
    const std::string_view controllers = line.substr(first + 1, second - first - 1);
    const std::string path(line.substr(second + 1));
    if (id == "0" && controllers.empty()) {
      paths.unified = path;
      continue;
    }
    // "cpu", "cpu,cpuacct", "cpuacct,cpu": `cpu` as one of the comma-separated names, not "cpuset"
    std::string_view rest = controllers;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      if (rest.substr(0, comma) == "cpu") paths.cpu_v1 = path;
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  return paths;
}

int usable_threads(int affinity_cpus, std::optional<double> quota_cpus) {
  int threads = std::max(1, affinity_cpus);
  if (quota_cpus) threads = std::min(threads, std::max(1, static_cast<int>(std::floor(*quota_cpus))));
  return threads;
}

AvailableCpus available_cpus() { return {affinity_cpus(), cgroup_quota()}; }

int default_intra_op_threads(int usable, bool passive_waiting) { return passive_waiting ? std::max(1, usable) : 1; }

ThreadCounts configure_threads(int requested) {
  if (requested < 0)
    fail(ExitCode::usage, "--threads must be 0 (as many as the cores available) or more, not {}", requested);
  ThreadCounts counts;
  counts.available = available_cpus();
  counts.passive_waiting = passive_waiting();
  counts.intra_op =
      requested > 0 ? requested : default_intra_op_threads(counts.available.usable(), counts.passive_waiting);
  // medcode runs no inter-op tasks (no torch::jit::fork): one thread keeps the unused pool small.
  counts.inter_op = 1;
  torch::set_num_threads(counts.intra_op);
  set_blas_threads(counts.intra_op);
  set_inter_op_threads(counts.inter_op);
  spdlog::debug("threads: {} intra-op, {} inter-op ({}: {} CPUs in the affinity mask, cgroup quota {}); "
                "idle OpenMP threads {}",
                counts.intra_op, torch::get_num_interop_threads(), requested > 0 ? "--threads" : "default",
                counts.available.affinity,
                counts.available.quota ? fmt::format("{:.2f} CPUs", *counts.available.quota) : "none",
                counts.passive_waiting ? "sleep (OMP_WAIT_POLICY=PASSIVE)" : "may spin");
  if (requested > counts.available.usable()) {
    spdlog::debug("threads: --threads {} is more than the {} CPUs available; threads will wait for cores",
                  requested, counts.available.usable());
  }
  return counts;
}

}  // namespace medcode::model
