#!/usr/bin/env python3
"""Turns the raw numbers of `just bench` into summary.json and summary.md.

    python3 bench/summarize.py RESULTS_DIR [CRITERION_HOME]

RESULTS_DIR holds raw/ (written by bench/run.sh); with CRITERION_HOME the
criterion estimates are first collected into raw/parsers.json.
"""

import json
import math
import sys
from pathlib import Path

# Criterion benchmark id -> summary key (mean time of one call, ns).
CRITERION_KEYS = {
    "rdap_parse_domain": "rdap_parse_domain_ns",
    "whois_parse_record": "whois_parse_record_ns",
    "whois_classify_record": "whois_classify_record_ns",
    "whois_classify_not_found": "whois_classify_not_found_ns",
    "verdict_decide_registered": "verdict_decide_ns",
    "verdict_decide_with_facts": "verdict_decide_with_facts_ns",
    "verdict_decide_available": "verdict_decide_available_ns",
    "domain_name_parse_idn": "domain_name_parse_idn_ns",
}


def collect_criterion(home: Path) -> dict:
    numbers = {}
    for bench_id in CRITERION_KEYS:
        path = home / bench_id / "new" / "estimates.json"
        if path.exists():
            estimates = json.loads(path.read_text())
            numbers[bench_id] = {
                "mean_ns": round(estimates["mean"]["point_estimate"], 1),
                "median_ns": round(estimates["median"]["point_estimate"], 1),
            }
    return numbers


def load(raw: Path, name: str) -> dict:
    path = raw / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def phases(raw: Path) -> list:
    path = raw / "phases.tsv"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()[1:]
    return [dict(zip(["phase", "seconds", "load_1m", "load_5m"], line.split("\t"))) for line in lines]


def machine(raw: Path) -> dict:
    path = raw / "machine.txt"
    info = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, _, value = line.partition(": ")
            info[key] = value
    return info


def first(runs) -> dict:
    """The first of a list of runs (or the one run)."""
    if isinstance(runs, list):
        return runs[0] if runs else {}
    return runs or {}


def number(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def ceiling_keys(run: dict, suffix: str) -> dict:
    """The ceiling keys of one publishing run, `suffix` appended to their
    names. The ceiling is the samples interleaved with the operator's
    publishing (the operator stopped for each); the sustained
    operator-stopped sample after the pass and the 10-s samples' median are
    beside it. Runs before 2026-12-03 had no interleaved samples: their
    ceiling was the sustained sample, and before 2026-12-02's evening the
    median: read so."""
    sustained = run.get("apiserver_write_ceiling_sustained") or {}
    interleaved = run.get("apiserver_write_ceiling_interleaved") or {}
    after = {
        f"apiserver_write_ceiling_after_pass{suffix}_per_s": run.get("apiserver_write_ceiling_after_pass_per_s"),
        f"published_ratio_to_ceiling_after_pass{suffix}": run.get("published_ratio_to_ceiling_after_pass"),
        f"apiserver_write_ceiling_interleaved_samples{suffix}_per_s": interleaved.get("samples_per_s"),
        f"apiserver_cpu_ms_per_patch_interleaved_samples{suffix}": [
            sample.get("apiserver_cpu_ms_per_patch") for sample in interleaved.get("samples") or []
        ],
        f"operator_stopped_for_interleaved_samples{suffix}_s": run.get("operator_stopped_for_interleaved_samples_s"),
        f"ceiling_is_interleaved{suffix}": interleaved.get("per_s") is not None,
    }
    if interleaved.get("per_s") is not None or "apiserver_write_ceiling_short_median_per_s" in run or not sustained:
        per_s, ratio = run.get("apiserver_write_ceiling_per_s"), run.get("published_ratio_to_ceiling")
        median, to_median = (run.get("apiserver_write_ceiling_short_median_per_s"),
                             run.get("published_ratio_to_short_median"))
    else:
        per_s, ratio = (run.get("apiserver_write_ceiling_sustained_per_s"),
                        run.get("published_ratio_to_sustained_ceiling"))
        median, to_median = run.get("apiserver_write_ceiling_per_s"), run.get("published_ratio_to_ceiling")
    if interleaved.get("per_s") is None:
        # No interleaved ceiling: the one the ratio was taken to came after the pass.
        after[f"apiserver_write_ceiling_after_pass{suffix}_per_s"] = per_s
        after[f"published_ratio_to_ceiling_after_pass{suffix}"] = ratio
    return {
        f"apiserver_write_ceiling{suffix}_per_s": per_s,
        f"published_ratio_to_ceiling{suffix}": ratio,
        **after,
        f"apiserver_write_ceiling{suffix}_seconds": sustained.get("seconds"),
        f"apiserver_write_ceiling{suffix}_by_slice_per_s": sustained.get("patches_per_s_by_slice"),
        f"apiserver_write_ceiling_short_samples{suffix}_per_s": [
            sample.get("patches_per_s") for sample in run.get("apiserver_write_ceiling_samples") or []
        ],
        f"apiserver_write_ceiling_short_median{suffix}_per_s": median,
        f"published_ratio_to_short_median{suffix}": to_median,
    }


def main() -> None:
    results = Path(sys.argv[1])
    raw = results / "raw"
    if len(sys.argv) > 2:
        (raw / "parsers.json").write_text(
            json.dumps(collect_criterion(Path(sys.argv[2])), indent=2, sort_keys=True) + "\n"
        )
    parsers = load(raw, "parsers")
    checks = load(raw, "checks")
    small = load(raw, "scale-small")
    large = load(raw, "scale-large")
    publishing = load(raw, "publishing")
    scaleout = load(raw, "scaleout")
    detection = load(raw, "detection").get("classes", {})
    info = machine(raw)
    steps = phases(raw)

    summary = {
        # Headline: DNS and pipeline throughput against dnsperf, memory per
        # domain, idle status writes and the first check of 100k domains.
        "dns_checks_per_s": checks.get("dns_checks_per_s"),
        "dnsperf_queries_per_s": checks.get("dnsperf_queries_per_s"),
        "dns_ratio_to_dnsperf": checks.get("dns_ratio_to_dnsperf"),
        "layer1_domains_per_s": checks.get("layer1_domains_per_s"),
        "rss_bytes_per_domain_100k": large.get("rss_bytes_per_domain"),
        "idle_status_writes_per_domain_per_hour": large.get("idle_status_writes_per_domain_per_hour"),
        "first_check_all_100k_s": large.get("first_check_all_s"),
        # Headline, all from the large scale run: memory after re-checks and
        # at its peak, the first pass against the API server's own write
        # ceiling, idle writes per day and the detection latencies.
        "rss_bytes_per_domain_100k_after_rechecks": large.get("rss_bytes_per_domain_after_rechecks"),
        "peak_rss_bytes_100k": large.get("peak_rss_bytes"),
        "first_pass_checked_100k_s": large.get("first_pass_checked_s"),
        **ceiling_keys(large, ""),
        "published_ratio_to_single_sample": large.get("published_ratio_to_single_sample"),
        "apiserver_write_ceiling_beside_operator_per_s": large.get("apiserver_write_ceiling_beside_operator_per_s"),
        "published_ratio_to_ceiling_beside_operator": large.get("published_ratio_to_ceiling_beside_operator"),
        # The API server's CPU per write: the operator's first statuses
        # against the ceiling loop's patches (operator stopped).
        "apiserver_cpu_ms_per_write_publishing": large.get("apiserver_cpu_ms_per_write_publishing"),
        "apiserver_cpu_ms_per_patch_ceiling_samples": [
            sample.get("apiserver_cpu_ms_per_patch")
            for sample in large.get("apiserver_write_ceiling_samples") or []
        ],
        # The same patches with a watch on their namespace open: what the
        # watch event of each write costs (the operator's writes all come
        # back to it on its watch).
        "apiserver_write_ceiling_watched_samples_per_s": [
            sample.get("patches_per_s") for sample in large.get("apiserver_write_ceiling_watched_samples") or []
        ],
        "apiserver_cpu_ms_per_patch_watched_samples": [
            sample.get("apiserver_cpu_ms_per_patch")
            for sample in large.get("apiserver_write_ceiling_watched_samples") or []
        ],
        "checks_deferred_while_publishing_100k": large.get("checks_deferred_while_publishing"),
        # The same first pass at the operator's default intervals (the
        # `publishing` scenario): no 60-s re-checks sharing the two cores.
        "status_writes_per_s_publishing_at_defaults": publishing.get("status_writes_per_s_publishing"),
        **ceiling_keys(publishing, "_at_defaults"),
        "operator_cpu_cores_publishing_at_defaults": publishing.get("operator_cpu_cores"),
        "idle_status_writes_per_domain_per_day": large.get("idle_status_writes_per_domain_per_day"),
        "detection_p99_ms_normal": number(detection.get("normal", {}).get("p99_ms")),
        "detection_p99_ms_priority": number(detection.get("priority", {}).get("p99_ms")),
        "detection_p99_ms_drop_window": number(detection.get("window", {}).get("p99_ms")),
        "scaleout_ratio_3v1": scaleout.get("scaleout_ratio_3v1"),
        # Context.
        "hickory_lookups_per_s": checks.get("hickory_lookups_per_s"),
        "half_escalated_domains_per_s": checks.get("half_escalated_domains_per_s"),
        "large_domains": large.get("domains"),
        "small_domains": small.get("domains"),
        "first_check_all_10k_s": small.get("first_check_all_s"),
        "checks_per_s_sustained_10k": small.get("checks_per_s_sustained"),
        "checks_per_s_sustained_100k": large.get("checks_per_s_sustained"),
        "demand_checks_per_s_100k": large.get("demand_checks_per_s"),
        "rss_bytes_per_domain_10k": small.get("rss_bytes_per_domain"),
        "rss_bytes_100k": large.get("rss_bytes"),
        "watch_only_rss_bytes_per_domain_100k": large.get("watch_only_rss_bytes_per_domain"),
        "operator_cpu_cores_first_checks_100k": large.get("operator_cpu_cores_first_checks"),
        "apiserver_cpu_cores_first_checks_100k": large.get("apiserver_cpu_cores_first_checks"),
        "operator_cpu_cores_idle_100k": large.get("operator_cpu_cores_in_window"),
        "idle_status_writes_per_domain_per_hour_10k": small.get("idle_status_writes_per_domain_per_hour"),
        "apiserver_requests_per_s_first_checks_100k": large.get("apiserver_requests_per_s_first_checks"),
        "apiserver_requests_per_s_idle_100k": large.get("apiserver_requests_per_s_idle"),
        "creation_per_s_100k": large.get("creation_per_s"),
        "first_pass_counted_by": (large.get("settings") or {}).get("first_pass_counted_by"),
        "first_pass_checked_count_100k": large.get("first_pass_checked_count"),
        "published_all_100k_s": large.get("published_all_s"),
        "status_writes_per_s_first_pass_100k": large.get("status_writes_per_s_first_pass"),
        "first_pass_checks_per_s_100k": large.get("first_pass_checks_per_s"),
        "first_pass_check_window_100k_s": large.get("first_pass_check_window_s"),
        "ready_100k_s": large.get("ready_s"),
        "publish_window_100k_s": large.get("publish_window_s"),
        "status_writes_per_s_publishing_100k": large.get("status_writes_per_s_publishing"),
        "status_writes_per_domain_per_day_with_backfill_100k": large.get("status_writes_per_domain_per_day_with_backfill"),
        "status_changes_in_idle_window_by_field_100k": large.get("status_changes_in_window_by_field"),
        "status_writes_in_idle_window_by_reason_100k": large.get("status_writes_in_window_by_reason"),
        "rdap_checks_in_idle_window_100k": large.get("rdap_checks_in_window"),
        "idle_window_100k_s": large.get("window_s"),
        "first_pass_checked_10k_s": small.get("first_pass_checked_s"),
        "rss_bytes_per_domain_10k_after_rechecks": small.get("rss_bytes_per_domain_after_rechecks"),
        "idle_status_writes_per_domain_per_day_10k": small.get("idle_status_writes_per_domain_per_day"),
        "detection_p50_ms_normal": number(detection.get("normal", {}).get("p50_ms")),
        "detection_p50_ms_priority": number(detection.get("priority", {}).get("p50_ms")),
        "detection_p50_ms_drop_window": number(detection.get("window", {}).get("p50_ms")),
        "detection_samples_per_class": detection.get("normal", {}).get("dropped"),
        # Where each class's detection time went (the operator's check lines).
        "detection_breakdown": {name: c.get("breakdown") for name, c in detection.items()},
        "scaleout_checks_per_s_1": scaleout.get("one_replica", {}).get("checks_per_s"),
        "scaleout_checks_per_s_3": scaleout.get("three_replicas", {}).get("checks_per_s"),
        "scaleout_rss_bytes_1": (scaleout.get("one_replica", {}).get("rss_bytes") or [None])[0],
        "scaleout_rss_bytes_3": scaleout.get("three_replicas", {}).get("rss_bytes"),
    }
    for bench_id, key in CRITERION_KEYS.items():
        summary[key] = parsers.get(bench_id, {}).get("mean_ns")
    summary["machine"] = info
    summary["phases"] = steps
    summary["settings"] = {
        "scale_small": small.get("settings"),
        "scale_large": large.get("settings"),
        "scaleout": scaleout.get("settings"),
        "detection": load(raw, "detection").get("settings"),
        "dnsperf": first(checks.get("dnsperf")).get("settings"),
    }
    (results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (results / "summary.md").write_text(markdown(summary, checks, small, large, scaleout, detection, info, steps))


def fmt(value, unit=""):
    if value is None:
        return "not measured"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        text = f"{value:,}"
    else:
        text = f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{text}{unit}"


TLD_SERVERS_NOTE = "each TLD on ≥ 2 authoritative servers"


def mib(value):
    return "not measured" if value is None else f"{fmt(value >> 20)} MiB"


def reasons(by_reason):
    if not by_reason:
        return "none"
    return ", ".join(f"{reason} {fmt(count)}" for reason, count in sorted(by_reason.items()))


def first_pass_value(value, large):
    """The first pass in seconds, or None when it was not measured; a first
    pass that did not end within the patience fails the target."""
    if value is None and large.get("first_pass_complete") is False:
        return math.inf
    return value


def first_pass(value, count, large):
    if value is None and large.get("first_pass_complete") is False:
        patience = (large.get("settings") or {}).get("first_pass_patience_s")
        return f"not reached in {fmt(patience)} s ({fmt(count)} checked)"
    return fmt(value, " s")


def met(value, check):
    if value is None:
        return "—"
    return "yes" if check(value) else "**no**"


def breakdown_max(part):
    """`until the check + evaluation + to the receiver` maxima, in ms."""
    if not part:
        return "?"
    return (f"{fmt(part['until_check_ms']['max'])} + {fmt(part['took_ms']['max'])} + "
            f"{fmt(part['after_decision_ms']['max'])} ms")


def markdown(s, checks, small, large, scaleout, detection, info, steps):
    def interval_target(cls):
        return detection.get(cls, {}).get("target_p99_ms")

    rows = [
        ("dns_checks_per_s", fmt(s["dns_checks_per_s"]), "", "—"),
        ("dnsperf_queries_per_s", fmt(s["dnsperf_queries_per_s"]), "", "—"),
        ("dns_ratio_to_dnsperf", fmt(s["dns_ratio_to_dnsperf"]), "≥ 0.6",
         met(s["dns_ratio_to_dnsperf"], lambda v: v >= 0.6)),
        ("layer1_domains_per_s", fmt(s["layer1_domains_per_s"]), "≥ 5,000",
         met(s["layer1_domains_per_s"], lambda v: v >= 5000)),
        (f"rss_bytes_per_domain_100k ({fmt(s['large_domains'])} domains, after the first pass)",
         fmt(s["rss_bytes_per_domain_100k"]), "≤ 2,048",
         met(s["rss_bytes_per_domain_100k"], lambda v: v <= 2048)),
        (f"rss_bytes_per_domain_100k_after_rechecks ({fmt(s['large_domains'])} domains)",
         fmt(s["rss_bytes_per_domain_100k_after_rechecks"]), "≤ 2,048",
         met(s["rss_bytes_per_domain_100k_after_rechecks"], lambda v: v <= 2048)),
        ("peak_rss_bytes_100k (VmHWM)", mib(s["peak_rss_bytes_100k"]), "", "—"),
        (f"first_pass_checked_100k_s ({fmt(s['large_domains'])} domains; counted by "
         f"{s['first_pass_counted_by'] or '?'})",
         first_pass(s["first_pass_checked_100k_s"], s["first_pass_checked_count_100k"], large), "≤ 30 s",
         met(first_pass_value(s["first_pass_checked_100k_s"], large), lambda v: v <= 30)),
        (("apiserver_write_ceiling_per_s (first status patches in 10-s samples interleaved with the "
          "operator's publishing, the operator stopped for each: "
          f"{', '.join(fmt(v) for v in s['apiserver_write_ceiling_interleaved_samples_per_s'] or [])}/s; "
          f"the operator was stopped {fmt(s['operator_stopped_for_interleaved_samples_s'], ' s')} in all)")
         if s["ceiling_is_interleaved"] else
         "apiserver_write_ceiling_per_s (the sustained operator-stopped sample after the pass: no interleaved "
         "samples in this run)",
         fmt(s["apiserver_write_ceiling_per_s"], "/s"), "", "—"),
        ("published_ratio_to_ceiling (first statuses written/s while publishing, the stopped time left "
         "out ÷ ceiling)",
         fmt(s["published_ratio_to_ceiling"]) + (
             f" ({fmt(s['status_writes_per_s_publishing_100k'], ' writes/s')})"
             if s["status_writes_per_s_publishing_100k"] is not None else ""),
         "≥ 0.8", met(s["published_ratio_to_ceiling"], lambda v: v >= 0.8)),
        ("apiserver_write_ceiling_after_pass_per_s (the same patches after the pass, operator stopped, "
         f"one sample of {fmt(s['apiserver_write_ceiling_seconds'], ' s')}; by 10-s slice "
         f"{', '.join(fmt(v) for v in s['apiserver_write_ceiling_by_slice_per_s'] or [])}/s)",
         fmt(s["apiserver_write_ceiling_after_pass_per_s"], "/s"), "", "—"),
        ("published_ratio_to_ceiling_after_pass (publishing ÷ that sample; the ceiling of runs "
         "before 2026-12-03)", fmt(s["published_ratio_to_ceiling_after_pass"]), "", "—"),
        ("published_ratio_to_short_median (publishing ÷ the median of three 10-s samples, "
         f"{', '.join(fmt(v) for v in s['apiserver_write_ceiling_short_samples_per_s'])}/s: each holds "
         "one of the API server's GC cycles or two)",
         fmt(s["published_ratio_to_short_median"]), "", "—"),
        ("published_ratio_to_single_sample (publishing ÷ the first 10-s sample alone, as runs before "
         "2026-12-02 measured it)", fmt(s["published_ratio_to_single_sample"]), "", "—"),
        ("apiserver_write_ceiling_beside_operator_per_s (the same patches for 10 s while the operator re-checks)",
         fmt(s["apiserver_write_ceiling_beside_operator_per_s"], "/s"), "", "—"),
        ("published_ratio_to_ceiling_beside_operator (publishing ÷ the ceiling beside the operator)",
         fmt(s["published_ratio_to_ceiling_beside_operator"]), "", "—"),
        ("apiserver_cpu_ms_per_write_publishing (the API server's CPU per first status while the operator "
         "published; per patch of the operator-stopped samples: "
         f"{', '.join(fmt(v) for v in s['apiserver_cpu_ms_per_patch_ceiling_samples'] or [])} ms)",
         fmt(s["apiserver_cpu_ms_per_write_publishing"], " ms"), "", "—"),
        ("the same patches with a watch on their namespace open and read, as the operator's writes come "
         "back on its watch (samples after the others; per patch "
         f"{', '.join(fmt(v) for v in s['apiserver_cpu_ms_per_patch_watched_samples'] or [])} ms)",
         (", ".join(fmt(v) for v in s["apiserver_write_ceiling_watched_samples_per_s"]) + "/s")
         if s["apiserver_write_ceiling_watched_samples_per_s"] else "—", "", "—"),
        ("checks_deferred_while_publishing_100k (routine re-checks put off while a first status waited)",
         fmt(s["checks_deferred_while_publishing_100k"]), "", "—"),
        ("published_ratio_to_ceiling_at_defaults (the same first pass at the operator's default "
         "intervals ÷ the ceiling " + ("interleaved with it" if s["ceiling_is_interleaved_at_defaults"] else
                                      "after it") + " the same way, "
         f"{fmt(s['apiserver_write_ceiling_at_defaults_per_s'], '/s')}; to the sustained sample "
         f"after it, {fmt(s['apiserver_write_ceiling_after_pass_at_defaults_per_s'], '/s')}: "
         f"{fmt(s['published_ratio_to_ceiling_after_pass_at_defaults'])})",
         fmt(s["published_ratio_to_ceiling_at_defaults"]) + (
             f" ({fmt(s['status_writes_per_s_publishing_at_defaults'], ' writes/s')})"
             if s["status_writes_per_s_publishing_at_defaults"] is not None else ""),
         "≥ 0.8", met(s["published_ratio_to_ceiling_at_defaults"], lambda v: v >= 0.8)),
        ("published_ratio_to_short_median_at_defaults (the same ÷ the median of the 10-s samples "
         f"{', '.join(fmt(v) for v in s['apiserver_write_ceiling_short_samples_at_defaults_per_s'])}/s)",
         fmt(s["published_ratio_to_short_median_at_defaults"]), "", "—"),
        (f"idle_status_writes_per_domain_per_day ({TLD_SERVERS_NOTE})",
         fmt(s["idle_status_writes_per_domain_per_day"]), "≤ 1",
         met(s["idle_status_writes_per_domain_per_day"], lambda v: v <= 1)),
        ("idle_status_writes_per_domain_per_hour", fmt(s["idle_status_writes_per_domain_per_hour"]),
         "", "—"),
        (f"first_check_all_100k_s ({fmt(s['large_domains'])} domains; /status has no Unknown)",
         fmt(s["first_check_all_100k_s"], " s"), "", "—"),
        ("detection_p99_ms_normal", fmt(s["detection_p99_ms_normal"], " ms"),
         f"≤ {fmt(interval_target('normal'))} ms",
         met(s["detection_p99_ms_normal"], lambda v: v <= (interval_target("normal") or 0))),
        ("detection_p99_ms_priority", fmt(s["detection_p99_ms_priority"], " ms"),
         f"≤ {fmt(interval_target('priority'))} ms",
         met(s["detection_p99_ms_priority"], lambda v: v <= (interval_target("priority") or 0))),
        ("detection_p99_ms_drop_window", fmt(s["detection_p99_ms_drop_window"], " ms"), "≤ 5,000 ms",
         met(s["detection_p99_ms_drop_window"], lambda v: v <= 5000)),
        ("scaleout_ratio_3v1", fmt(s["scaleout_ratio_3v1"]), "≥ 2.7",
         met(s["scaleout_ratio_3v1"], lambda v: v >= 2.7)),
    ]
    context = [
        ("hickory_lookups_per_s (plain lookup loop, same server)", fmt(s["hickory_lookups_per_s"])),
        ("half_escalated_domains_per_s (half go on to RDAP + WHOIS)", fmt(s["half_escalated_domains_per_s"])),
        (f"first_check_all_10k_s ({fmt(s['small_domains'])} domains)", fmt(s["first_check_all_10k_s"], " s")),
        (f"checks_per_s_sustained ({fmt(s['small_domains'])} domains)", fmt(s["checks_per_s_sustained_10k"])),
        (f"checks_per_s_sustained ({fmt(s['large_domains'])} domains; the interval asks for "
         f"{fmt(s['demand_checks_per_s_100k'])}/s)", fmt(s["checks_per_s_sustained_100k"])),
        (f"rss_bytes_per_domain after the first pass ({fmt(s['small_domains'])} domains)",
         fmt(s["rss_bytes_per_domain_10k"])),
        (f"operator RSS / peak RSS ({fmt(s['large_domains'])} domains)",
         f"{fmt((s['rss_bytes_100k'] or 0) >> 20)} / {fmt((s['peak_rss_bytes_100k'] or 0) >> 20)} MiB"),
        (f"rss_bytes_per_domain of an operator that only watches ({fmt(s['large_domains'])} domains with "
         "status, one check at a time)", fmt(s["watch_only_rss_bytes_per_domain_100k"])),
        ("CPU cores during the first checks: operator / API server",
         f"{fmt(s['operator_cpu_cores_first_checks_100k'])} / {fmt(s['apiserver_cpu_cores_first_checks_100k'])}"),
        ("operator CPU cores while re-checking (window)", fmt(s["operator_cpu_cores_idle_100k"])),
        ("API server requests/s during the first checks", fmt(s["apiserver_requests_per_s_first_checks_100k"])),
        ("API server requests/s while nothing changes", fmt(s["apiserver_requests_per_s_idle_100k"])),
        ("resources created per second (not counted above)", fmt(s["creation_per_s_100k"])),
        (f"first pass ({fmt(s['large_domains'])} domains): ready (first list applied); first check seen → "
         "every domain checked; checks/s, status writes/s",
         f"{fmt(s['ready_100k_s'], ' s')}; {fmt(s['first_pass_check_window_100k_s'], ' s')}; "
         f"{fmt(s['first_pass_checks_per_s_100k'])}, {fmt(s['status_writes_per_s_first_pass_100k'])}"),
        ("every first status written (writes with reason first ≥ N), from operator start; publishing window",
         f"{fmt(s['published_all_100k_s'], ' s')}; {fmt(s['publish_window_100k_s'], ' s')}"),
        ("status writes per domain per day in the idle window, the facts backfill included",
         fmt(s["status_writes_per_domain_per_day_with_backfill_100k"])),
        ("idle window: status fields changed", reasons(s["status_changes_in_idle_window_by_field_100k"])),
        (f"idle window ({fmt(s['idle_window_100k_s'], ' s')}): status writes by reason; RDAP checks "
         "(registration facts still being fetched explain writes)",
         f"{reasons(s['status_writes_in_idle_window_by_reason_100k'])}; "
         f"{fmt(s['rdap_checks_in_idle_window_100k'])}"),
        (f"first_pass_checked_s ({fmt(s['small_domains'])} domains)", fmt(s["first_pass_checked_10k_s"], " s")),
        (f"rss_bytes_per_domain after re-checks ({fmt(s['small_domains'])} domains)",
         fmt(s["rss_bytes_per_domain_10k_after_rechecks"])),
        (f"idle_status_writes_per_domain_per_day ({fmt(s['small_domains'])} domains)",
         fmt(s["idle_status_writes_per_domain_per_day_10k"])),
        ("detection p50 normal / priority / drop window",
         f"{fmt(s['detection_p50_ms_normal'])} / {fmt(s['detection_p50_ms_priority'])} / "
         f"{fmt(s['detection_p50_ms_drop_window'])} ms ({fmt(s['detection_samples_per_class'])} drops per class)"),
        ("detection, max per part (from the drop to the start of the check that found it; that "
         "check's evaluation; its verdict to the notification's arrival) normal / priority / drop window",
         " / ".join(breakdown_max(s["detection_breakdown"].get(name)) for name in ("normal", "priority", "window"))),
        ("scale-out checks/s, 1 vs 3 replicas",
         f"{fmt(s['scaleout_checks_per_s_1'])} vs {fmt(s['scaleout_checks_per_s_3'])}"),
        ("scale-out RSS per replica, 1 vs 3 replicas",
         f"{fmt((s['scaleout_rss_bytes_1'] or 0) >> 20)} MiB vs "
         f"{', '.join(fmt(r >> 20) for r in (s['scaleout_rss_bytes_3'] or []))} MiB"),
    ]
    for bench_id, key in CRITERION_KEYS.items():
        context.append((key, fmt(s.get(key), " ns")))

    out = ["# Benchmark results", ""]
    out.append(f"Run of {info.get('date', '?')} ({info.get('scale', '?')} scale) on {info.get('cpus', '?')} CPUs "
               f"({info.get('cpu model', '?')}), {info.get('memory', '?')}; "
               f"{info.get('total seconds', '?')} s in all. Written by `just bench` (bench/run.sh).")
    out.append("")
    out.append(f"Load before: `{info.get('uptime before', '?')}`  ")
    out.append(f"Load after: `{info.get('uptime after', '?')}`")
    out.append("")
    out.append("| key | value | target | met? |")
    out.append("|---|---|---|---|")
    for key, value, target, ok in rows:
        out.append(f"| `{key}` | {value} | {target} | {ok} |")
    out.append("")
    out.append("## Context")
    out.append("")
    out.append("| measure | value |")
    out.append("|---|---|")
    for key, value in context:
        out.append(f"| {key} | {value} |")
    out.append("")
    out.append("## Phases")
    out.append("")
    out.append("| phase | seconds | load average (1 min, 5 min) before |")
    out.append("|---|---|---|")
    for step in steps:
        out.append(f"| {step['phase']} | {step['seconds']} | {step['load_1m']}, {step['load_5m']} |")
    out.append("")
    out.append("## What was measured")
    out.append("")
    dnsperf = first(checks.get("dnsperf"))
    out.append(
        f"- **DNS**: nsd (`rrl-ratelimit: 0`, one server process) serves a `.test` zone of "
        f"{fmt(checks.get('zone_delegations'))} delegations; the query set is half delegated, half absent names. "
        f"`dnsperf {dnsperf.get('settings', '')}` and the `DnsChecker` (100 and 500 concurrent tasks) ask the "
        f"same server, {checks.get('window_s', '?')} s at a time in {checks.get('rounds', '?')} alternating rounds; "
        "each number is the best round (other work on the machine moves them). Every answer is classified "
        "(raw/checks.json has the outcome counts of every round)."
    )
    out.append(
        "- **Pipeline**: `LayeredChecker::evaluate` (DNS + HTTP in layer 1) with rate limits far above the "
        "machine's capacity; layer 1 alone for delegated names, and a half-free mix where the free half goes "
        "on to rdap-srv (404) and a WHOIS server (`No match`) and ends `Available`."
    )
    settings = large.get("settings") or {}
    budgets = settings.get("budgets") or {}
    ceiling = large.get("apiserver_write_ceiling") or {}
    beside = large.get("apiserver_write_ceiling_beside_operator") or {}
    interleaved = large.get("apiserver_write_ceiling_interleaved") or {}
    out.append(
        f"- **Scale**: the test API server, {budgets.get('tld_servers', '?')} nsd serving the `.test` zone "
        f"(`DNS_RESOLVERS` lists both) and rdap-srv (an RDAP object for every domain); `CHECK_INTERVAL` "
        f"{settings.get('CHECK_INTERVAL', '?')}, `STATUS_HEARTBEAT` {settings.get('STATUS_HEARTBEAT', '?')}, "
        f"`MAX_CONCURRENT_CHECKS` {settings.get('MAX_CONCURRENT_CHECKS', '?')}. Budgets: DNS "
        f"{budgets.get('DNS_RATE_LIMIT', '?')}; RDAP {budgets.get('RDAP_RATE_LIMIT', '?')}; WHOIS "
        f"{budgets.get('WHOIS_RATE_LIMIT', '?')}; HTTP {budgets.get('HTTP_RATE_LIMIT', '?')}. "
        f"First pass = seconds from operator start until `{settings.get('first_pass_counted_by', '?')}` "
        "(from `/metrics/prometheus`, polled every 250 ms from the operator's start) reaches the number of domains; "
        "`domain_monitor_first_checks_total` when the operator exports it, else every verdict. Publishing "
        "rate = domains ÷ the time from the first status write until `domain_monitor_status_writes_total"
        "{reason=\"first\"}` reaches the number of domains (less the time the operator was stopped for the "
        "interleaved samples); the ratio divides it by the ceiling below. RSS per domain = (VmRSS − VmRSS of the same "
        "operator watching no domain) / domains, when the first pass ends and again after the window. Then "
        "a window as long as the check interval with nothing changing, starting once every first status was "
        "written and the writer's queue had drained (to what the facts backfill keeps adding): checks, status writes (idle = all but reasons first and facts, the once-in-a-life backfill "
        "of registration facts at the default RDAP budget), scaled to writes per domain per day, and the API server's "
        "`apiserver_request_total`. Then the API server's ceiling beside the operator, which goes on re-checking: "
        f"{beside.get('method', '?')}, {beside.get('concurrency', '?')} in flight for "
        f"{beside.get('seconds', '?')} s on {fmt(beside.get('resources'))} fresh resources (the operator used "
        f"{fmt(beside.get('operator_cpu_cores'))} cores and wrote {fmt(beside.get('operator_status_writes'))} statuses meanwhile). "
        "Then, the operator stopped, the API server's own ceiling: "
        f"{ceiling.get('method', '?')}, {ceiling.get('concurrency', '?')} in flight for "
        f"{ceiling.get('seconds', '?')} s ({fmt(ceiling.get('status_bytes'))}-byte statuses; "
        f"{fmt(ceiling.get('failed'))} failed), three such samples "
        "20 s apart, two more with a watch open on their namespace, then a sustained sample (a 10-s sample "
        "holds one of the API server's GC cycles or two, and its etcd compaction or none): "
        f"{(large.get('apiserver_write_ceiling_sustained') or {}).get('method', 'none in this run')}. "
        + (
            "The ceiling the ratio is taken to: patches per second over samples taken while the operator "
            f"published, once every domain was checked once: every {interleaved.get('every_s')} s of its "
            f"publishing the operator was stopped (SIGSTOP), and {interleaved.get('settle_s')} s later, once "
            f"its writes in flight were answered, the loop wrote for {interleaved.get('sample_s')} s "
            f"({len(interleaved.get('samples') or [])} samples, {fmt(large.get('operator_stopped_for_interleaved_samples_s'), ' s')} "
            "stopped in all, left out of the publishing window; the operator ran with "
            f"{', '.join(interleaved.get('operator_settings') or [])} so that it kept its shards)."
            if interleaved.get("per_s") is not None else
            "The ceiling the ratio is taken to is the sustained sample (runs before 2026-12-03)."
        )
    )
    so = scaleout.get("settings") or {}
    out.append(
        f"- **Scale-out**: {fmt(scaleout.get('domains'))} domains; every DNS answer is held "
        f"{so.get('dns_delay_ms', '?')} ms by a relay in front of nsd (a remote TLD server), "
        f"`MAX_CONCURRENT_CHECKS` {so.get('MAX_CONCURRENT_CHECKS', '?')} per replica and `CHECK_INTERVAL` "
        f"{so.get('CHECK_INTERVAL', '?')} (demand {fmt(so.get('demand_checks_per_s'))} checks/s), so each "
        "replica's concurrency is the bottleneck, not the shared CPU. Rate limits are global budgets "
        "(a replica spends its shard share), so work bound by a server's rate limit does not scale out, by design."
    )
    det = detection
    out.append(
        "- **Detection**: domains dropped one per class every 3 s while the operator runs (RDAP object and "
        "WHOIS record removed, then the delegation): time from the nsd reload to the notification's arrival "
        f"at the receiver. Intervals: normal {det.get('normal', {}).get('interval_s', '?')} s, priority "
        f"{det.get('priority', {}).get('interval_s', '?')} s, drop window {det.get('window', {}).get('interval_s', '?')} s "
        "(pendingDelete with a published deletion date just passed), each shortened by a random 0–10 % (jitter). Targets: "
        "interval + 1 s, and 5 s in a drop window."
    )
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    main()
