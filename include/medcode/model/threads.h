// How many CPU threads the model stack runs: as many as the cores this process may really use (its CPU
// affinity, capped by its cgroup's CPU quota), with LibTorch's and the BLAS's pools sized alike and idle
// OpenMP workers that sleep rather than spin. More threads than cores, or workers spinning on a core that
// another thread or program needs, made decoding up to 13 times slower on a busy 2-core machine.
#pragma once

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace medcode::model {

// CPUs a cgroup v2 `cpu.max` grants: "150000 100000" (quota, period in µs) is 1.5; nullopt for "max ..."
// (no limit) or text that is not two numbers.
std::optional<double> cpus_from_cpu_max(std::string_view content);
// CPUs a cgroup v1 CFS quota grants (cpu.cfs_quota_us, cpu.cfs_period_us); nullopt when there is no quota
// (-1) or the period is not positive.
std::optional<double> cpus_from_cfs_quota(std::int64_t quota_us, std::int64_t period_us);

// This process's cgroup folders, relative to the hierarchy's mount, from /proc/self/cgroup's lines
// "hierarchy-id:controllers:path": the unified (v2) one ("0::/path") and the v1 one holding `cpu`.
struct CgroupPaths {
  std::optional<std::string> unified;
  std::optional<std::string> cpu_v1;
};
CgroupPaths parse_proc_self_cgroup(std::string_view content);

// The threads worth running: the CPUs of the affinity mask (at least 1), capped by the quota rounded down
// (but not below 1). Rounding down: a thread more than the quota pays for only gets throttled.
int usable_threads(int affinity_cpus, std::optional<double> quota_cpus);

// What the machine grants this process now: sched_getaffinity's count and the tightest CPU quota of its
// cgroup and the cgroup's ancestors (v2 `cpu.max`, else v1 `cpu.cfs_quota_us`).
struct AvailableCpus {
  int affinity = 1;
  std::optional<double> quota;
  int usable() const { return usable_threads(affinity, quota); }
};
AvailableCpus available_cpus();

// Asks OpenMP (libgomp) to put idle workers to sleep at once instead of spinning for a while first:
// OMP_WAIT_POLICY=PASSIVE, unless the user chose OMP_WAIT_POLICY or GOMP_SPINCOUNT. libgomp reads them only
// when it is loaded, so this counts only before then: a program that opens the model stack as a plugin calls
// it before dlopen (inline, so that such a host needs no link to the plugin). A program linked to LibTorch
// loads libgomp before main(); there only the environment the program starts with counts. Returns whether
// the policy in the environment is now passive.
inline bool prefer_passive_waiting() {
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && std::getenv("GOMP_SPINCOUNT") == nullptr)
    setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0);
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  if (policy == nullptr) return false;
  std::string value(policy);
  for (char& c : value) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return value == "PASSIVE";
}

// The intra-op threads of `--threads 0`: every usable core when idle OpenMP workers sleep; one otherwise, since
// workers that spin while they wait made two threads up to 13 times slower than one on a busy 2-core machine
// (and one thread runs no OpenMP workers at all).
int default_intra_op_threads(int usable, bool passive_waiting);

struct ThreadCounts {
  int intra_op = 1;           // LibTorch's OpenMP pool and the BLAS's threads
  int inter_op = 1;           // LibTorch's inter-op pool
  AvailableCpus available;
  bool passive_waiting = false;  // libgomp read OMP_WAIT_POLICY=PASSIVE
};

// Sets the threads for `--threads requested`: 0 means default_intra_op_threads(available_cpus().usable(),
// whether idle OpenMP workers sleep); a negative count is a usage error. Sets LibTorch's intra-op threads (OpenMP), the BLAS's (OpenBLAS keeps its own pool, which
// LibTorch leaves at one per core), and once per process the inter-op threads. Logs the counts at debug.
ThreadCounts configure_threads(int requested);

}  // namespace medcode::model
