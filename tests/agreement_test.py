#!/usr/bin/env python3
"""One truth across commands: every command on every shared real trace.

For each trace of ../shared/data/traces (imported here) this runs analyze,
stats, validate, oom, plot and report, on the card the trace reveals and on
a card too small for the run, and checks that they agree:
  - the card (size and source) is the same in every command;
  - for the recorded (or default) config, analyze, stats and oom give the
    same peaks, OOM counts and first OOM event;
  - analyze's peak reserved for that config equals validate's real peak
    within 1% on the snapshots (the rebuilt start state is replayed), and
    validate's simulated peak, never below the trace's Total Reserved, on
    profiler windows (their start state rebuilt from the first totals);
  - oom's "avoided by" is exactly the caching configs with no OOM in
    analyze's sweep on the same card;
  - the recommendation never runs out of memory and is the one the report
    shows; the report and the split-size plot show analyze's peaks;
  - event numbers mean the same in stats and oom (a recorded OOM);
  - the batch summaries the import wrote change nothing: analyze, stats and
    oom say the same on a copy whose summaries are cleared, so the card
    pass that trusts them decides as the pass over every event.
Exit 0 when all agree, 1 with the disagreements, 77 when the shared traces
are missing (CTest: skipped).

usage: agreement_test.py GPU_TRACE SHARED_TRACES_DIR
"""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

GIB = 1 << 30
MIB = 1 << 20
failures = []


def fail(trace, what):
    failures.append("%s: %s" % (trace, what))
    print("FAIL %s: %s" % (trace, what))


def run(bin_, *args, ok=(0,)):
    p = subprocess.run([bin_] + list(args), capture_output=True, text=True)
    if p.returncode not in ok:
        raise RuntimeError("gpu-trace %s: exit %d: %s" % (" ".join(args), p.returncode,
                                                          p.stderr.strip()))
    return p


def jrun(bin_, *args):
    return json.loads(run(bin_, *args, "--format", "json").stdout)


def result_of(dev, config):
    for r in dev["results"]:
        if r["config"] == config:
            return r
    return None


def analysed_config(analysis):
    """The config oom and stats replay: the recorded one, else default."""
    names = [r["config"] for r in analysis["devices"][0]["results"]]
    return names, None


def check_cards(name, an, st, va, om):
    for i, d in enumerate(an["devices"]):
        card = (d["memory_bytes"], d["memory_source"])
        sd = st["devices"][i]
        if (sd["device_memory_bytes"], sd["memory_source"]) != card:
            fail(name, "stats card %s != analyze card %s" %
                 ((sd["device_memory_bytes"], sd["memory_source"]), card))
        od = om["devices"][i]
        if (od["memory_bytes"], od["memory_source"]) != card:
            fail(name, "oom card %s != analyze card %s" %
                 ((od["memory_bytes"], od["memory_source"]), card))
        if va is not None:
            vd = [v for v in va["devices"] if v["device"] == d["device"]][0]
            if ((vd["device_cap_bytes"] or None), vd["memory_source"]) != card:
                fail(name, "validate card %s != analyze card %s" %
                     ((vd["device_cap_bytes"], vd["memory_source"]), card))


def check_peaks(name, an, st, om, config):
    for i, d in enumerate(an["devices"]):
        r = result_of(d, config)
        if r is None:
            fail(name, "analyze has no row for '%s'" % config)
            continue
        sd = st["devices"][i]
        if (sd["peak_reserved_bytes"], sd["peak_allocated_bytes"]) != \
                (r["peak_reserved_bytes"], r["peak_allocated_bytes"]):
            fail(name, "device %d, %s: stats peaks %d/%d != analyze %d/%d" % (
                d["device"], config, sd["peak_reserved_bytes"], sd["peak_allocated_bytes"],
                r["peak_reserved_bytes"], r["peak_allocated_bytes"]))
        if sd["simulated_ooms"] != r["num_ooms"]:
            fail(name, "device %d, %s: stats OOMs %d != analyze %d" % (
                d["device"], config, sd["simulated_ooms"], r["num_ooms"]))
    # oom's first OOM is analyze's first_oom_event for the same config
    firsts = [result_of(d, config)["first_oom_event"] for d in an["devices"]
              if result_of(d, config) and result_of(d, config)["first_oom_event"] is not None]
    oom_first = om["ooms"][0]["event"] if om["ooms"] else None
    if (min(firsts) if firsts else None) != oom_first:
        fail(name, "%s: first OOM event: analyze %s, oom %s" % (
            config, min(firsts) if firsts else None, oom_first))
    total = sum(result_of(d, config)["num_ooms"] for d in an["devices"] if result_of(d, config))
    if total != om["ooms_total"]:
        fail(name, "%s: OOMs: analyze %d, oom %d" % (config, total, om["ooms_total"]))


def check_avoiders(name, an, om):
    if not om["ooms"]:
        return
    o = om["ooms"][0]
    dev = [d for d in an["devices"] if d["device"] == o["device"]][0]
    want = sorted(r["config"] for r in dev["results"]
                  if r["num_ooms"] == 0 and r["config"] != "nocache")
    got = sorted(a["config"] for a in o["avoided_by"])
    if want != got:
        fail(name, "avoided by %s, but analyze's configs without OOM are %s" % (got, want))


def check_recommendation(name, an):
    rec = an["recommended"]
    if rec is None:
        return
    for d in an["devices"]:
        r = result_of(d, rec["config"])
        if r is None or r["num_ooms"] != 0:
            fail(name, "recommended '%s' runs out of memory on device %d" %
                 (rec["config"], d["device"]))


def fmt_bytes(b):
    """gt_units_format_bytes: what the table and the report print."""
    for unit, name in ((1 << 40, "TiB"), (GIB, "GiB"), (MIB, "MiB"), (1024, "KiB")):
        if b >= unit:
            return "%.2f %s" % (b / unit, name)
    return "%d B" % b


def check_report(name, an, html, config):
    rec = an["recommended"]
    if rec is not None:
        want = ("recommended: default, no PYTORCH_CUDA_ALLOC_CONF" if rec["config"] == "default"
                else "recommended: <code>%s</code>" % rec["config"])
        if want not in html:
            fail(name, "the report does not recommend %s" % rec["config"])
    d = an["devices"][0]
    r = result_of(d, config)
    if r and fmt_bytes(r["peak_reserved_bytes"]) not in html:
        fail(name, "the report does not show %s's peak reserved %s" %
             (config, fmt_bytes(r["peak_reserved_bytes"])))
    if "card: " not in html:
        fail(name, "the report does not say which card it used")


def check_plot(name, an, svg):
    """The split-size plot labels each bar with its peak reserved (%.2f in
    GiB, or MiB for small runs: the largest of the peaks and half the card)."""
    d = max(an["devices"], key=lambda x: x["requests"])
    r = result_of(d, "default")
    if r is None:
        return
    most = max([x["peak_reserved_bytes"] for x in d["results"]] + [(d["memory_bytes"] or 0) // 2])
    unit = GIB if most >= GIB else MIB
    label = "%.2f" % (r["peak_reserved_bytes"] / unit)
    if not re.search(r">\s*%s\s*<" % re.escape(label), svg):
        fail(name, "the split-size plot has no label %s for default's peak reserved" % label)


def one_card(bin_, name, db, work, card_args, html_name):
    an = jrun(bin_, "analyze", db, *card_args)
    st = jrun(bin_, "stats", db, *card_args)
    om = jrun(bin_, "oom", db, *card_args)
    va = jrun(bin_, "validate", db, *card_args)
    config = om["config"]
    check_cards(name, an, st, va, om)
    check_peaks(name, an, st, om, config)
    check_avoiders(name, an, om)
    check_recommendation(name, an)
    html_path = os.path.join(work, html_name)
    run(bin_, "report", db, "-o", html_path, *card_args)
    with open(html_path, encoding="utf-8") as f:
        check_report(name, an, f.read(), config)
    plots = os.path.join(work, html_name + "-plots")
    run(bin_, "plot", db, "-o", plots, "--format", "svg", *card_args)
    with open(os.path.join(plots, "split-sizes.svg"), encoding="utf-8") as f:
        check_plot(name, an, f.read())
    return an, va


def check_summaries(bin_, name, db, work):
    """The same answers from a copy of db without its batch summaries."""
    bare = os.path.join(work, name + "-bare.db")
    shutil.copyfile(db, bare)
    con = sqlite3.connect(bare)
    n = con.execute("SELECT count(*) FROM event_batches WHERE kinds IS NOT NULL").fetchone()[0]
    con.execute("UPDATE event_batches SET kinds = NULL, device = NULL, pid = NULL")
    con.commit()
    con.close()
    if n == 0:
        fail(name, "the imported trace has no batch summaries")
    for command in ("analyze", "stats", "oom"):
        a, b = jrun(bin_, command, db), jrun(bin_, command, bare)
        a.pop("trace", None)
        b.pop("trace", None)
        if a != b:
            fail(name, "%s differs once the batch summaries are cleared" % command)


def check_trace(bin_, name, src, work):
    db = os.path.join(work, name + ".db")
    run(bin_, "import", src, "-o", db)
    check_summaries(bin_, name, db, work)
    an, va = one_card(bin_, name, db, work, [], name + ".html")
    config = jrun(bin_, "oom", db)["config"]
    # The rebuilt start state: analyze's peak is validate's real one.
    for d in an["devices"]:
        vd = [v for v in va["devices"] if v["device"] == d["device"]][0]
        real = vd["peak_reserved_real_bytes"]
        r = result_of(d, config)
        if vd["start_state"] == "rebuilt":
            # A profiler window on a warm cache: the start state is rebuilt
            # from its totals, so analyze's peak is validate's replay of it.
            if r["peak_reserved_bytes"] != vd["peak_reserved_sim_bytes"]:
                fail(name, "analyze's peak reserved %d is not validate's simulated peak %d"
                     % (r["peak_reserved_bytes"], vd["peak_reserved_sim_bytes"]))
            if r["peak_reserved_bytes"] < vd["totals_reserved_peak_real_bytes"]:
                fail(name, "analyze's peak reserved %d is below the trace's Total Reserved %d"
                     % (r["peak_reserved_bytes"], vd["totals_reserved_peak_real_bytes"]))
        elif vd["segment_events_real"] or vd["initial_reserved_bytes"]:
            if abs(r["peak_reserved_bytes"] - real) > 0.01 * real:
                fail(name, "analyze's peak reserved %d is not validate's real peak %d within 1%%"
                     % (r["peak_reserved_bytes"], real))
    # A card too small for the run: 90% of the recorded config's peak,
    # rounded to 2 MiB, but no smaller than what the start state pins.
    d = an["devices"][0]
    peak = result_of(d, config)["peak_reserved_bytes"]
    card = max(peak * 9 // 10, d["start_allocated_bytes"]) // (2 * MIB) * (2 * MIB)
    scn = run(bin_, "analyze", db, "--device-memory", str(card), "--config", "default",
              ok=(0, 1))
    if scn.returncode == 1:
        if "already exceeds the card" not in scn.stderr:
            fail(name, "analyze on %d bytes failed: %s" % (card, scn.stderr.strip()))
        return
    an_small, _ = one_card(bin_, name + " (small card)", db, work,
                           ["--device-memory", str(card)], name + "-small.html")
    fails = sum(r["num_ooms"] > 0 for r in an_small["devices"][0]["results"])
    print("ok %s: card %s (%s); on %s %d of %d configs run out of memory" % (
        name, fmt_bytes(d["memory_bytes"] or 0), d["memory_source"], fmt_bytes(card), fails,
        len(an_small["devices"][0]["results"])))


def check_event_numbers(bin_, work):
    """A recorded OOM is the same event in stats and oom."""
    csv = os.path.join(work, "oom.csv")
    with open(csv, "w") as f:
        f.write("ts_ns,action,addr,size,stream,device\n"
                "0,alloc,0x1000,3145728,0,0\n"
                "100,oom,1048576,31457280,0,0\n"
                "200,free,0x1000,,0,0\n")
    db = os.path.join(work, "oom.db")
    run(bin_, "import", csv, "-o", db)
    # on 24 MiB the 30 MiB request fails here too (20 MiB already reserved)
    st = jrun(bin_, "stats", db, "--device-memory", "24MiB")
    om = jrun(bin_, "oom", db, "--device-memory", "24MiB")
    s_ev = st["devices"][0]["first_recorded_oom"]["event"]
    o_ev = [o["event"] for o in om["ooms"] if o["recorded"]]
    if not o_ev or s_ev != o_ev[0] or s_ev != 1:
        fail("oom.csv", "first recorded OOM: stats event %s, oom %s, expected 1" % (s_ev, o_ev))


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    bin_, shared = os.path.abspath(sys.argv[1]), sys.argv[2]
    if not os.path.isdir(shared):
        print("skipped: no shared traces at %s" % shared)
        return 77
    n = 0
    with tempfile.TemporaryDirectory() as work:
        check_event_numbers(bin_, work)
        for name in sorted(os.listdir(shared)):
            folder = os.path.join(shared, name)
            if not os.path.isdir(folder):
                continue
            files = [f for f in os.listdir(folder) if not f.endswith(".txt")]
            if len(files) != 1:
                continue
            n += 1
            try:
                check_trace(bin_, name, os.path.join(folder, files[0]), work)
            except RuntimeError as e:
                fail(name, str(e))
    print("%d traces, %d disagreements" % (n, len(failures)))
    return 1 if failures or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
