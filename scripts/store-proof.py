#!/usr/bin/env python3
"""The trace store's proof campaign (format v2), as SQLite tests itself.

  scripts/store-proof.py [--build DIR] [--work DIR] [--flips N] [--kills N]
                         [--big-events N] [--skip-big]

Runs against the project's own binaries (gpu-trace, gen_trace; Release
build in DIR, default ./build-rel) and the system's sqlite3 shell:

  big     gen_trace writes N events (default 250 M: over 4 GiB); sqlite3's
          PRAGMA integrity_check must say ok; `gpu-trace sql` must count N
          events with seqs 1..N; `gpu-trace analyze` must read all N.
  kill    kill -9 of gen_trace (the writer), of `gpu-trace import` (a CSV
          of 2 M events) and of bench_drain (its writer, then the drain from
          a ring, as `record` drains) at random moments, N times: every file
          left must pass integrity_check (after SQLite rolls back a hot
          journal) and hold exactly events 1..k (k a commit boundary for the
          writer), and the reader must read them without an error.
  writers another connection runs DELETE, UPDATE, INSERT, CREATE INDEX,
          VACUUM and journal_mode=WAL while gen_trace records: each either
          works or gets "database is locked"; at the end integrity_check is
          ok and every event is there; a reader open across the changes
          reads the last commit.
  flips   N damaged copies of a 60 000-event trace (1 to 8 random bytes
          changed, or cut at a random offset): `gpu-trace analyze` must give
          either an error or the original answer; a different answer is
          counted and, when the events themselves differ, a failure.

Prints a line of figures per part; exit 1 when a rule is broken.
"""
import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

COMMIT_EVENTS = 65536
failures = []


def note(part, text):
    print("%-8s %s" % (part, text), flush=True)


def fail(part, text):
    failures.append("%s: %s" % (part, text))
    print("FAIL %s: %s" % (part, text), flush=True)


def integrity(path):
    """sqlite3's own verdict; a read-write open rolls a hot journal back."""
    p = subprocess.run(["sqlite3", path, "PRAGMA integrity_check;"], capture_output=True,
                       text=True)
    return p.stdout.strip() if p.returncode == 0 else "sqlite3 failed: " + p.stderr.strip()


def sql(gt, path, query):
    p = subprocess.run([gt, "sql", path, query, "--format", "list"], capture_output=True,
                       text=True)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def count_and_max(gt, path):
    rc, out, err = sql(gt, path, "SELECT count(*), coalesce(max(seq), 0) FROM events")
    if rc != 0:
        return None, err
    n, m = out.split("|")
    return (int(n), int(m)), ""


def reader_events(gt, path):
    """Events as the analysis reader delivers them (gt_trace_read): the
    count analyze prints, or None with the error."""
    p = subprocess.run([gt, "analyze", path, "--config", "default", "--format", "json"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr.strip()
    return json.loads(p.stdout)["events"], ""


def part_big(gt, gen, work, events):
    path = os.path.join(work, "big.db")
    t0 = time.time()
    subprocess.run([gen, "--seed", "1", "--events", str(events), "-o", path], check=True,
                   stdout=subprocess.DEVNULL)
    t_gen = time.time() - t0
    size = os.path.getsize(path)
    t0 = time.time()
    verdict = integrity(path)
    t_int = time.time() - t0
    cm, err = count_and_max(gt, path)
    t0 = time.time()
    n_read, rerr = reader_events(gt, path)
    t_read = time.time() - t0
    note("big", "%d events, %.2f GiB (%.1f bytes/event), written in %.1f s; integrity_check: %s "
         "(%.1f s); sql count/max: %s; analyze read %s events (%.1f s)" % (
             events, size / 2**30, size / events, t_gen, verdict, t_int, cm, n_read, t_read))
    if verdict != "ok":
        fail("big", "integrity_check: " + verdict)
    if cm != (events, events):
        fail("big", "sql saw %s, expected %d events: %s" % (cm, events, err))
    if n_read != events:
        fail("big", "the reader gave %s events: %s" % (n_read, rerr))
    os.unlink(path)


def check_prefix(gt, path, full, part, label, boundary=True):
    """A killed writer's file: sound, events 1..k, k at a commit boundary
    (the drain commits on its own clock: any k)."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return "none"
    verdict = integrity(path)
    if verdict != "ok":
        fail(part, "%s: integrity_check: %s" % (label, verdict))
        return "bad"
    cm, err = count_and_max(gt, path)
    if cm is None:
        if "event_batches" in err and "missing" in err:
            return "before-schema"  # killed before the schema's commit
        fail(part, "%s: sql: %s" % (label, err))
        return "bad"
    n, m = cm
    if n != m or (boundary and n % COMMIT_EVENTS != 0 and n != full):
        fail(part, "%s: %d events up to seq %d: not a prefix at a commit" % (label, n, m))
        return "bad"
    got, rerr = reader_events(gt, path)
    if got is None and n > 0:
        fail(part, "%s: the reader failed on %d events: %s" % (label, n, rerr))
        return "bad"
    return "prefix"


def part_kill(gt, gen, work, kills, rng):
    csv = os.path.join(work, "kill.csv")
    full = 2000000
    with open(csv, "w") as f:
        f.write("ts_ns,action,addr,size,stream,device\n")
        for i in range(full // 2):
            f.write("%d,alloc,%d,%d,0,0\n%d,free,%d,,0,0\n" % (
                2 * i, 0x7f0000000000 + i * 512, 512 + (i % 1000) * 512, 2 * i + 1,
                0x7f0000000000 + i * 512))
    outcomes = {}
    drain = os.path.join(os.path.dirname(gen), "bench_drain")
    for k in range(kills):
        path = os.path.join(work, "k%d.db" % k)
        ddir = os.path.join(work, "d%d" % k)
        if k % 3 == 0:
            cmd, label, wait = [gen, "--seed", str(k), "--events", str(full), "-o", path], \
                "gen_trace #%d" % k, rng.uniform(0.0, 1.2)
        elif k % 3 == 1:
            cmd, label, wait = [gt, "import", csv, "-o", path], "import #%d" % k, \
                rng.uniform(0.0, 1.5)
        else:
            os.mkdir(ddir)
            cmd, label, wait = [drain, "--events", str(full), "--dir", ddir], \
                "bench_drain #%d" % k, rng.uniform(1.5, 4.0)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(wait)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        files = [(path, True)]
        if k % 3 == 2:
            sub = [os.path.join(ddir, d) for d in os.listdir(ddir)]
            files = [(os.path.join(d, f), f == "writer.db") for d in sub
                     for f in ("writer.db", "drain.db")]
        for f, boundary in files:
            journal = os.path.exists(f + "-journal")
            o = check_prefix(gt, f, full, "kill", label + " " + os.path.basename(f), boundary)
            outcomes[o] = outcomes.get(o, 0) + 1
            if journal:
                outcomes["hot journal"] = outcomes.get("hot journal", 0) + 1
        subprocess.run(["rm", "-rf", path, path + "-journal", ddir])
    note("kill", "%d kill -9 (gen_trace, import and bench_drain's writer and drain, 2 M events): "
         "files: %s" % (kills, outcomes))


def part_writers(gt, gen, work):
    statements = [
        "DELETE FROM meta WHERE key = 'nothing'",
        "UPDATE devices SET name = name",
        "INSERT INTO meta VALUES('note', 'from another client')",
        "CREATE INDEX IF NOT EXISTS by_n ON event_batches(n)",
        "VACUUM",
        "PRAGMA journal_mode=WAL",
    ]
    full = 3000000
    path = os.path.join(work, "w.db")
    proc = subprocess.Popen([gen, "--seed", "7", "--events", str(full), "-o", path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while not os.path.exists(path):
        time.sleep(0.01)
    time.sleep(0.2)
    results = []
    for st in statements:
        try:
            db = sqlite3.connect(path, timeout=0.2)
            db.execute(st)
            db.commit()
            db.close()
            results.append("ok")
        except sqlite3.OperationalError as e:
            results.append(str(e))
        time.sleep(0.1)
    _, errout = proc.communicate()
    verdict = integrity(path)
    cm, err = count_and_max(gt, path)
    got, rerr = reader_events(gt, path)
    kept = sql(gt, path, "SELECT count(*) FROM meta WHERE key = 'note'")[1]
    note("writers", "%s; recorder exit %d%s; integrity_check %s; events %s; reader %s; "
         "the other client's row kept: %s" % (
             ", ".join("%s: %s" % (" ".join(s.split()[:2]), r)
                       for s, r in zip(statements, results)),
             proc.returncode, (" (" + errout.strip() + ")") if errout.strip() else "", verdict,
             cm, got, kept))
    if verdict != "ok":
        fail("writers", "integrity_check: " + verdict)
    for s, r in zip(statements, results):
        if r != "ok" and "locked" not in r and "busy" not in r:
            fail("writers", "%s: %s" % (s, r))
    if proc.returncode == 0 and (cm != (full, full) or got != full):
        fail("writers", "events %s, reader %s (%s %s), expected %d" % (cm, got, err, rerr, full))
    if results[2] == "ok" and kept != "1":
        fail("writers", "a row another client committed was lost")


def part_flips(gt, gen, work, flips, rng):
    base = os.path.join(work, "base.db")
    subprocess.run([gen, "--seed", "3", "--events", "60000", "-o", base], check=True,
                   stdout=subprocess.DEVNULL)
    ref = subprocess.run([gt, "analyze", base, "--config", "default", "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    ref_json = json.loads(ref)
    data = open(base, "rb").read()
    counts = {"error": 0, "same": 0, "different, events same": 0, "different events": 0,
              "crash": 0}
    for k in range(flips):
        b = bytearray(data)
        if k % 10 == 9:
            b = b[:rng.randrange(1, len(b))]
            what = "cut"
        else:
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] ^= rng.randrange(1, 256)
            what = "flips"
        path = os.path.join(work, "f.db")
        with open(path, "wb") as f:
            f.write(b)
        p = subprocess.run([gt, "analyze", path, "--config", "default", "--format", "json"],
                           capture_output=True, text=True, timeout=60)
        if p.returncode < 0 or p.returncode > 2:
            counts["crash"] += 1
            fail("flips", "%s #%d: exit %d: %s" % (what, k, p.returncode, p.stderr[-200:]))
        elif p.returncode != 0:
            counts["error"] += 1
        else:
            got = json.loads(p.stdout)
            got["trace"] = ref_json["trace"]
            if got == ref_json:
                counts["same"] += 1
            elif got["events"] == ref_json["events"] and \
                    got["devices"][0]["results"] == ref_json["devices"][0]["results"]:
                counts["different, events same"] += 1  # a metadata value changed
            else:
                counts["different events"] += 1
                fail("flips", "%s #%d: a different answer from the events, exit 0" % (what, k))
        os.unlink(path)
    note("flips", "%d damaged copies of a 60 000-event trace: %s" % (flips, counts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-rel")
    ap.add_argument("--work", default=None)
    ap.add_argument("--flips", type=int, default=2000)
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--big-events", type=int, default=250000000)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    gt = os.path.abspath(os.path.join(a.build, "gpu-trace"))
    gen = os.path.abspath(os.path.join(a.build, "gen_trace"))
    rng = random.Random(a.seed)
    with tempfile.TemporaryDirectory(dir=a.work) as work:
        part_writers(gt, gen, work)
        part_flips(gt, gen, work, a.flips, rng)
        part_kill(gt, gen, work, a.kills, rng)
        if not a.skip_big:
            part_big(gt, gen, work, a.big_events)
    print("%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
