// test_synthetic_sweep.cpp — synthetic_tasks/sweeps/sweep.sh: the synthetic_train commands it builds
// (--dry-run), clear errors for bad arguments, a tiny sweep of real runs (copy, then duplicate n-gram
// on the copy checkpoints) whose records check_logs accepts, and a failed run (fake binary).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/common/child_process.h"
#include "ssmlab/atomic_file.h"
#include "ssmlab/jsonl_log.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using ssmlab::test::run_command;
using ssmlab::test::sq;

namespace {
const std::string kBin = SSMLAB_BIN_DIR;
const std::string kSweep = std::string(SSMLAB_SOURCE_DIR) + "/synthetic_tasks/sweeps/sweep.sh";
const std::string kQuick = std::string(SSMLAB_SOURCE_DIR) + "/synthetic_tasks/configs/quick.json";

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream is(s);
  for (std::string l; std::getline(is, l);) v.push_back(l);
  return v;
}
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A stand-in for synthetic_train: lists two models, fails (exit 3) for --model lstm.
std::string fake_train(const fs::path& dir) {
  const std::string f = (dir / "fake_train.sh").string();
  std::ofstream(f) << "#!/bin/sh\n"
                      "[ \"$1\" = --list-models ] && { echo mamba; echo lstm; exit 0; }\n"
                      "case \" $* \" in *\" --model lstm \"*) echo 'lstm: no'; exit 3 ;; esac\n"
                      "echo \"fake $*\"\n";
  fs::permissions(f, fs::perms::owner_all);
  return f;
}
}  // namespace

TEST(SyntheticSweep, DryRunPrintsTheExactCommands) {
  const std::string out = "/tmp/sw out";  // a space: every path is quoted
  auto [rc, text] = run_command(kSweep + " --dry-run --models T_rope mamba --experiments copy duplicate --dup-ngrams 2 3" +
                                " --train-config " + kQuick + " --jobs 2 --threads 2 --seed 1 --tag t --out " + sq(out) +
                                " --log " + sq(out + "/s.jsonl") + " --args '--device cpu' --copy-args='--max-eval-len 10'" +
                                " --train-bin " + kBin + "/synthetic_train");
  ASSERT_EQ(rc, 0) << text;
  const auto l = lines_of(text);
  ASSERT_EQ(l.size(), 6u) << text;  // 2 copy runs, then 2 models x 2 n of duplicate
  const std::string base = kBin + "/synthetic_train --config " + kQuick + " --model T_rope --tag t --sweep-exp copy --seed 1" +
                           " --threads 1 --out /tmp/sw\\ out --quiet --log /tmp/sw\\ out/s.jsonl ";
  EXPECT_EQ(l[0], base + "--train-task copy --eval-task copy --checkpoint /tmp/sw\\ out/synthetic_runs/checkpoints/t_copy_T_rope.ckpt" +
                      " --device cpu --max-eval-len 10");
  EXPECT_TRUE(has(l[1], "--model mamba --tag t --sweep-exp copy ")) << l[1];
  EXPECT_EQ(l[2], kBin + "/synthetic_train --config " + kQuick + " --model T_rope --tag t --sweep-exp duplicate --seed 1 --threads 1" +
                      " --out /tmp/sw\\ out --quiet --log /tmp/sw\\ out/s.jsonl --train-task copy --eval-task duplicate_ngram" +
                      " --n-gram 2 --checkpoint /tmp/sw\\ out/synthetic_runs/checkpoints/t_copy_T_rope.ckpt --resume --eval-only" +
                      " --eval-at-max-train --device cpu");
  EXPECT_TRUE(has(l[3], "--model T_rope ") && has(l[3], "--n-gram 3 ")) << l[3];
  EXPECT_TRUE(has(l[5], "--model mamba ") && has(l[5], "--n-gram 3 ") && has(l[5], "t_copy_mamba.ckpt")) << l[5];
  for (size_t i = 2; i < l.size(); ++i) EXPECT_FALSE(has(l[i], "--max-eval-len")) << "copy-only flags reached a duplicate run: " << l[i];

  // lookup: both key positions, each model; lengths derived from the lookup flags; --dup-len
  auto [rc2, text2] = run_command(kSweep + " --dry-run --models T_nope --lookup-models lstm --experiments lookup copy duplicate" +
                                  " --lookup-max-train 10 --lookup-max-eval 20 --lookup-eval-step 5 --lookup-n 2 --lookup-args=--steps=7" +
                                  " --dup-ngrams 4 --dup-len 12 --tag u --threads 8 --jobs 3 --train-bin " + kBin + "/synthetic_train");
  ASSERT_EQ(rc2, 0) << text2;
  const auto m = lines_of(text2);
  ASSERT_EQ(m.size(), 4u) << text2;
  EXPECT_TRUE(has(m[0], "--model lstm --tag u --sweep-exp lookup --seed 0 --threads 2 --out outputs --quiet"
                        " --log outputs/logs/synthetic.jsonl --train-task suffix_ngram --eval-task suffix_ngram --n-gram 2"
                        " --min-train-len 5 --max-train-len 10 --context-len 40 --min-eval-len 10 --max-eval-len 20"
                        " --eval-len-step 5 --progress-len 10 --steps=7"))
      << m[0];
  EXPECT_TRUE(has(m[1], "--train-task prefix_ngram --eval-task prefix_ngram ")) << m[1];
  EXPECT_TRUE(has(m[2], "--model T_nope ") && has(m[2], "--sweep-exp copy ") && !has(m[2], "--steps")) << m[2];
  EXPECT_TRUE(has(m[3], "--n-gram 4 ") && has(m[3], "--min-eval-len 12 --max-eval-len 12") && !has(m[3], "--eval-at-max-train"))
      << m[3];
}

TEST(SyntheticSweep, BadArgumentsAreAClearErrorWithExit2) {
  const std::string train = " --train-bin " + kBin + "/synthetic_train --dry-run";
  struct Case {
    std::string args, expect;
  } cases[] = {
      {"--models T_rope gpt5" + train, "unknown model 'gpt5' (valid: T_rope T_nope T_alibi T_hard_alibi T_rope_moe mamba mamba2 lstm)"},
      {"--models mamba --lookup-models gpt5 --experiments lookup" + train, "unknown model 'gpt5'"},
      {train, "--models is required"},
      {"--models mamba --experiments duplicate" + train, "add copy"},
      {"--models mamba --experiments reverse" + train, "--experiments: 'reverse' is not one of copy lookup duplicate"},
      {"--models mamba --gpus 0,x" + train, "--gpus must be a comma-separated list"},
      {"--models mamba --jobs 0" + train, "--jobs must be >= 1"},
      {"--models mamba --seed -1" + train, "--seed must be a whole number"},
      {"--models mamba --dup-ngrams 3 2" + train, "--dup-ngrams must be increasing"},
      {"--models mamba --bogus 1" + train, "unknown option '--bogus'"},
      {"--models mamba --threads" + train, "--threads needs a value"},
      {"--models mamba --train-bin /nonexistent/synthetic_train", "synthetic_train not found at /nonexistent/synthetic_train"},
      {"--models mamba --train-config /nonexistent.json" + train, "--train-config '/nonexistent.json' is not a file"},
  };
  for (const auto& c : cases) {
    auto [rc, out] = run_command(kSweep + " " + c.args);
    EXPECT_EQ(rc, 2) << c.args << "\n" << out;
    EXPECT_TRUE(has(out, "sweep.sh: error: ")) << c.args << "\n" << out;
    EXPECT_TRUE(has(out, c.expect)) << c.args << "\n" << out;
  }
  auto [rc, help] = run_command(kSweep + " --help");
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(has(help, "--dup-ngrams N...")) << help;
  // the model list comes from the library (models::model_names())
  auto [rc2, names] = run_command(kBin + "/synthetic_train --list-models");
  EXPECT_EQ(rc2, 0);
  EXPECT_EQ(names, "T_rope\nT_nope\nT_alibi\nT_hard_alibi\nT_rope_moe\nmamba\nmamba2\nlstm\n");
}

TEST(SyntheticSweep, TinySweepRunsCopyThenDuplicateAndLogsEveryRun) {
  const auto dir = ssmlab::test::fresh_temp_dir("synthetic_sweep_tiny");
  const std::string d = dir.string(), log = d + "/s.jsonl";
  const std::string model = "--arch flags --d-model 16 --n-layer 1 --n-head 2 --d-state 4 --steps 4 --eval-every 0 --log-every 2"
                            " --min-train-len 3 --max-train-len 5 --context-len 16 --min-eval-len 3 --max-eval-len 5"
                            " --eval-batches 1 --eval-batch-size 4 --greedy-samples 2";
  auto [rc, out] = run_command(kSweep + " --models T_rope mamba --experiments copy duplicate --dup-ngrams 2 --jobs 2 --threads 2" +
                                   " --seed 3 --tag tiny --out " + sq(d) + " --log " + sq(log) + " --args " + sq(model) +
                                   " --train-bin " + kBin + "/synthetic_train",
                               200);
  ASSERT_EQ(rc, 0) << out;
  for (const std::string name : {"copy_T_rope", "copy_mamba", "duplicate_n2_T_rope", "duplicate_n2_mamba"}) {
    EXPECT_TRUE(has(out, "[sweep] " + name + " done (exit 0) in ")) << name << "\n" << out;
    EXPECT_TRUE(fs::exists(dir / "synthetic_runs" / ("tiny_" + name + ".log"))) << name;
  }
  EXPECT_TRUE(has(out, "copy->duplicate_ngram")) << "a run's own summary line follows its name:\n" << out;
  EXPECT_TRUE(has(out, "[sweep] tag tiny: 4 runs, 0 failed, ")) << out;
  std::map<std::string, int> results;  // "<sweep-exp> <model>" -> result records
  for (const auto& l : ssmlab::read_jsonl(log)) {
    const auto& v = l.value;
    ASSERT_TRUE(v.is_object()) << l.raw;
    EXPECT_EQ(v["experiment"], "synthetic_train");
    EXPECT_EQ(v["params"]["tag"], "tiny");
    EXPECT_EQ(v["params"]["seed"], 3);
    EXPECT_EQ(v["params"]["threads"], 1);
    if (v["record"] != "result") continue;
    const std::string exp = v["params"]["sweep-exp"];
    ++results[exp + " " + v["params"]["model"].get<std::string>()];
    EXPECT_EQ(v["metrics"]["eval_only"], exp == "duplicate") << v.dump();
    EXPECT_EQ(v["metrics"]["task"], exp == "duplicate" ? "duplicate_ngram" : "copy") << v.dump();
    if (exp == "duplicate") EXPECT_EQ(v["metrics"]["steps"], 4) << "evaluated at the copy run's final step";
  }
  EXPECT_EQ(results, (std::map<std::string, int>{{"copy T_rope", 1}, {"copy mamba", 1}, {"duplicate T_rope", 1}, {"duplicate mamba", 1}}));
  auto [crc, cout_] = run_command(kBin + "/check_logs " + sq(log));
  EXPECT_EQ(crc, 0) << cout_;
  ssmlab::test::remove_tree(dir);
}

TEST(SyntheticSweep, AFailedRunIsNamedItsDuplicatesSkippedAndTheExitIs1) {
  const auto dir = ssmlab::test::fresh_temp_dir("synthetic_sweep_fail");
  const std::string fake = fake_train(dir);
  auto [rc, out] = run_command(kSweep + " --models mamba lstm --experiments copy duplicate --dup-ngrams 2 --jobs 2 --tag f --out " +
                               sq(dir.string()) + " --log none --train-bin " + sq(fake));
  EXPECT_EQ(rc, 1) << out;
  EXPECT_TRUE(has(out, "[sweep] copy_lstm FAILED (exit 3) in ")) << out;
  EXPECT_TRUE(has(out, "see " + dir.string() + "/synthetic_runs/f_copy_lstm.log")) << out;
  EXPECT_TRUE(has(out, "[sweep] duplicate_n2_lstm skipped: copy_lstm did not succeed")) << out;
  EXPECT_TRUE(has(out, "[sweep] duplicate_n2_mamba done (exit 0)")) << out;
  EXPECT_TRUE(has(out, "[sweep] tag f: 3 runs, 1 failed, 1 skipped")) << out;
  EXPECT_TRUE(has(ssmlab::read_file((dir / "synthetic_runs" / "f_copy_lstm.log").string()), "lstm: no"));
  ssmlab::test::remove_tree(dir);
}

// scripts/lib/job-queue.sh, interrupted (SIGTERM here; Ctrl-C's SIGINT takes the same path): the running
// jobs, which `timeout` puts in their own process groups, are stopped too, no new job starts, exit 130.
TEST(JobQueue, AnInterruptStopsTheRunningJobsAndStartsNoMore) {
  const auto dir = ssmlab::test::fresh_temp_dir("job_queue_interrupt");
  const std::string d = dir.string();
  ssmlab::write_file_atomic(d + "/jobs.tsv", "a\t0\tsleep 43.21; touch " + d + "/a_finished\n"
                                             "b\t0\tsleep 43.22; touch " + d + "/b_finished\n"
                                             "c\t0\ttouch " + d + "/c_started\n");
  const std::string queue = std::string(SSMLAB_SOURCE_DIR) + "/scripts/lib/job-queue.sh";
  auto [rc, out] = run_command(
      "bash -c '( source " + queue + "; job_queue " + d + "/jobs.tsv cpu 2 $(( $(date +%s) + 600 )) " + d + "/logs ) & q=$!; "
      "sleep 1.5; kill -TERM $q; wait $q; echo \"queue exit $?\"; sleep 0.5; "
      "echo \"sleeps left $(pgrep -f \"[s]leep 43.2[12]\" | wc -l)\"' 2>&1", 60);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(has(out, "interrupted: stopping the running jobs")) << out;
  EXPECT_TRUE(has(out, "queue exit 130")) << out;
  EXPECT_TRUE(has(out, "sleeps left 0")) << out;
  EXPECT_FALSE(fs::exists(d + "/a_finished") || fs::exists(d + "/b_finished"));
  EXPECT_FALSE(fs::exists(d + "/c_started")) << "no job starts after the interrupt";
  ssmlab::test::remove_tree(dir);
}

// synthetic_tasks/paper_runs.sh (the paper-size runs of issue 22) on tiny CPU models (--smoke): the
// job queue runs Fig. 1b with its duplicate n-gram evaluations and the lookup, one log per part, and a
// run whose expected time does not fit the budget is not started (and the script says so, exit 1).
namespace {
const std::string kPaper = std::string(SSMLAB_SOURCE_DIR) + "/synthetic_tasks/paper_runs.sh";
}

TEST(PaperRuns, SmokeRunsFig1bWithDuplicatesAndLookupOnTheQueue) {
  const auto dir = ssmlab::test::fresh_temp_dir("paper_runs_smoke");
  const std::string d = dir.string();
  auto [rc, out] = run_command(kPaper + " --smoke --parts 'fig1b lookup' --gpus cpu --per-gpu 2 --budget-s 200 --out " + sq(d) +
                                   " --bin " + kBin,
                               220);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(has(out, "[paper_runs] done in ")) << out;
  EXPECT_TRUE(has(out, "4 of 4 runs exited 0")) << out;  // smoke: T_rope and mamba on copy, T_hard_alibi on two lookups
  std::map<std::string, int> dup;                        // model -> duplicate_ngram result records (n = 2..6)
  for (const auto& l : ssmlab::read_jsonl(d + "/logs/paper_fig1b.jsonl")) {
    const auto& v = l.value;
    if (v["record"] == "result" && v["metrics"]["task"] == "duplicate_ngram") ++dup[v["params"]["model"].get<std::string>()];
  }
  EXPECT_EQ(dup, (std::map<std::string, int>{{"T_rope", 5}, {"mamba", 5}}));
  std::set<std::string> lookup_tasks;
  for (const auto& l : ssmlab::read_jsonl(d + "/logs/paper_lookup.jsonl"))
    if (l.value["record"] == "result") lookup_tasks.insert(l.value["metrics"]["task"].get<std::string>());
  EXPECT_EQ(lookup_tasks, (std::set<std::string>{"prefix_ngram", "suffix_ngram"}));
  auto [crc, cout_] = run_command(kBin + "/check_logs " + sq(d + "/logs/paper_fig1b.jsonl") + " " + sq(d + "/logs/paper_lookup.jsonl"));
  EXPECT_EQ(crc, 0) << cout_;
  ssmlab::test::remove_tree(dir);
}

TEST(PaperRuns, ARunThatCannotFinishBeforeTheBudgetIsNotStartedAndBadArgumentsExit2) {
  const auto dir = ssmlab::test::fresh_temp_dir("paper_runs_budget");
  const std::string d = dir.string();
  auto [rc, out] = run_command(kPaper + " --smoke --parts fig1b --gpus cpu --budget-s 2 --out " + sq(d) + " --bin " + kBin, 60);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_TRUE(has(out, "fig1b_mamba_s1 not started: expected ")) << out;
  EXPECT_TRUE(has(out, "0 of 2 runs exited 0")) << out;
  EXPECT_FALSE(fs::exists(d + "/logs/paper_fig1b.jsonl")) << "nothing ran";
  // Fig. 1a is a curve against examples seen: its runs start whatever the budget, and a cut run keeps its
  // evaluations so far (the queue sees an expected time of 0; the dry run prints the real total)
  auto [arc, aout] = run_command(kPaper + " --parts fig1a --budget-s 1 --dry-run --out " + sq(d + "/a") + " --bin " + kBin);
  EXPECT_EQ(arc, 0) << aout;
  EXPECT_TRUE(has(aout, "fig1a_mamba_s1=0 ")) << aout;
  // 5960 s of runs over 3 slots, but never less than the longest run (mamba, 2500 s): 2500 / 60 + 1 = 42 min
  EXPECT_TRUE(has(aout, "6 runs (fig1a): expected about 42 min")) << aout;
  EXPECT_FALSE(fs::exists(d + "/a")) << "a dry run writes nothing under --out";
  // --skip-done: runs that exited 0 in an earlier jobs.status are left out, others (failed, cut, not started) queued
  ssmlab::write_file_atomic(d + "/old.status", "fig1b_T_rope_s1 0 12\nfig1b_mamba_s1 124 300\nlookup_suffix_T_hard_alibi_s1 not_started\n");
  auto [src, sout] = run_command(kPaper + " --smoke --parts 'fig1b lookup' --dry-run --skip-done " + sq(d + "/old.status") +
                                 " --out " + sq(d + "/s") + " --bin " + kBin);
  EXPECT_EQ(src, 0) << sout;
  EXPECT_TRUE(has(sout, "1 runs left out: they exited 0 in")) << sout;
  EXPECT_FALSE(has(sout, "fig1b_T_rope_s1=")) << sout;
  EXPECT_TRUE(has(sout, "fig1b_mamba_s1=")) << sout;
  EXPECT_TRUE(has(sout, "lookup_suffix_T_hard_alibi_s1=")) << sout;
  auto [mrc, mout] = run_command(kPaper + " --smoke --dry-run --skip-done " + sq(d + "/missing.status") + " --out " + sq(d + "/m"));
  EXPECT_EQ(mrc, 2) << mout;
  EXPECT_TRUE(has(mout, "--skip-done: no file")) << mout;
  // several status files (each use rewrites its own): a run done in any of them is left out
  ssmlab::write_file_atomic(d + "/old2.status", "fig1b_mamba_s1 0 300\n");
  auto [s2rc, s2out] = run_command(kPaper + " --smoke --parts fig1b --dry-run --skip-done " + sq(d + "/old.status") + " " +
                                   sq(d + "/old2.status") + " --out " + sq(d + "/s2") + " --bin " + kBin);
  EXPECT_EQ(s2rc, 0) << s2out;
  EXPECT_TRUE(has(s2out, "2 runs left out")) << s2out;
  EXPECT_TRUE(has(s2out, "0 runs (fig1b)")) << s2out;
  for (const std::string bad : {"--parts fig9", "--bogus", "--budget-s soon", "--per-gpu 0 --gpus cpu --smoke", "--gpus 0,1",
                                 "--parts 'fig1b fig1b'", "--parts ''", "--per-gpu --smoke"}) {
    auto [brc, bout] = run_command(kPaper + " " + bad + " --out " + sq(d) + " --bin " + kBin);
    EXPECT_EQ(brc, 2) << bad << "\n" << bout;
  }
  auto [hrc, help] = run_command(kPaper + " --help");
  EXPECT_EQ(hrc, 0);
  EXPECT_TRUE(has(help, "fig1b")) << help;
  ssmlab::test::remove_tree(dir);
}
