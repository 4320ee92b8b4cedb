// Tests of the thread counts: reading cgroup CPU quotas (v2 cpu.max, v1 CFS quota, /proc/self/cgroup) and
// the default of as many threads as the cores the process may use.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "medcode/model/threads.h"
#include "medcode/util/error.h"

namespace medcode::model {
namespace {

TEST(Threads, CpuMaxGivesTheQuotaOverThePeriod) {
  EXPECT_DOUBLE_EQ(cpus_from_cpu_max("200000 100000\n").value(), 2.0);
  EXPECT_DOUBLE_EQ(cpus_from_cpu_max("150000 100000").value(), 1.5);
  EXPECT_DOUBLE_EQ(cpus_from_cpu_max("  50000 100000  \n").value(), 0.5);
}

TEST(Threads, CpuMaxWithoutALimitOrUnreadableGivesNone) {
  EXPECT_FALSE(cpus_from_cpu_max("max 100000\n").has_value());
  EXPECT_FALSE(cpus_from_cpu_max("max").has_value());
  EXPECT_FALSE(cpus_from_cpu_max("").has_value());
  EXPECT_FALSE(cpus_from_cpu_max("100000").has_value());
  EXPECT_FALSE(cpus_from_cpu_max("abc 100000").has_value());
  EXPECT_FALSE(cpus_from_cpu_max("100000 0").has_value());
  EXPECT_FALSE(cpus_from_cpu_max("100000 100000x").has_value());
}

TEST(Threads, CfsQuotaOfMinusOneIsNoLimit) {
  EXPECT_FALSE(cpus_from_cfs_quota(-1, 100000).has_value());
  EXPECT_FALSE(cpus_from_cfs_quota(50000, 0).has_value());
  EXPECT_DOUBLE_EQ(cpus_from_cfs_quota(300000, 100000).value(), 3.0);
}

TEST(Threads, ProcSelfCgroupNamesTheUnifiedAndTheV1CpuFolders) {
  auto hybrid = parse_proc_self_cgroup(
      "12:cpuset:/\n4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n0::/user.slice/session-1.scope\n");
  EXPECT_EQ(hybrid.unified.value(), "/user.slice/session-1.scope");
  EXPECT_EQ(hybrid.cpu_v1.value(), "/docker/abc");

  auto unified_only = parse_proc_self_cgroup("0::/\n");
  EXPECT_EQ(unified_only.unified.value(), "/");
  EXPECT_FALSE(unified_only.cpu_v1.has_value());

  auto cpuset_is_not_cpu = parse_proc_self_cgroup("3:cpuset:/a\n2:cpuacct,cpu:/b\n");
  EXPECT_EQ(cpuset_is_not_cpu.cpu_v1.value(), "/b");
  EXPECT_FALSE(cpuset_is_not_cpu.unified.has_value());

  EXPECT_FALSE(parse_proc_self_cgroup("").unified.has_value());
  EXPECT_FALSE(parse_proc_self_cgroup("garbage\n").cpu_v1.has_value());
}

TEST(Threads, UsableThreadsAreTheAffinityCappedByTheQuotaRoundedDown) {
  EXPECT_EQ(usable_threads(8, std::nullopt), 8);
  EXPECT_EQ(usable_threads(8, 2.0), 2);
  EXPECT_EQ(usable_threads(8, 2.5), 2);
  EXPECT_EQ(usable_threads(2, 4.0), 2);
  EXPECT_EQ(usable_threads(4, 0.5), 1);  // a fraction of a core still runs one thread
  EXPECT_EQ(usable_threads(0, std::nullopt), 1);
}

TEST(Threads, TheDefaultIsEveryUsableCoreOnlyWhenIdleWorkersSleep) {
  EXPECT_EQ(default_intra_op_threads(4, true), 4);
  EXPECT_EQ(default_intra_op_threads(4, false), 1);
  EXPECT_EQ(default_intra_op_threads(0, true), 1);
}

TEST(Threads, ZeroRequestsTheDefaultAndACountIsTakenAsGiven) {
  const int before = torch::get_num_threads();
  ThreadCounts defaults = configure_threads(0);
  EXPECT_EQ(defaults.intra_op, default_intra_op_threads(defaults.available.usable(), defaults.passive_waiting));
  EXPECT_EQ(torch::get_num_threads(), defaults.intra_op);
  EXPECT_GE(defaults.available.affinity, 1);
  ThreadCounts one = configure_threads(1);
  EXPECT_EQ(one.intra_op, 1);
  EXPECT_EQ(torch::get_num_threads(), 1);
  EXPECT_EQ(torch::get_num_interop_threads(), 1);
  configure_threads(3);  // more than the cores is allowed: the user asked
  EXPECT_EQ(torch::get_num_threads(), 3);
  torch::set_num_threads(before);
}

TEST(Threads, ANegativeCountIsAUsageError) {
  try {
    configure_threads(-1);
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::usage);
  }
}

}  // namespace
}  // namespace medcode::model
