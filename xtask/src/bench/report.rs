//! The figures as a table with ratios and targets (stdout), as JSON, and as a small SVG plot.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use super::VariantResult;

const MIB: f64 = 1024.0;

/// The targets: throughput at least 0.95× the floor's and p99 at most 1.1× the floor's at 16
/// and 64 concurrent; no errors at 64 concurrent on one key; per app at most 10 MiB idle and
/// 30 MiB at 64 concurrent; start to listening within 10 ms.
const THROUGHPUT_RATIO: f64 = 0.95;
const P99_RATIO: f64 = 1.1;
const IDLE_RSS_MIB: f64 = 10.0;
const LOADED_RSS_MIB: f64 = 30.0;
const LISTENING_MS: f64 = 10.0;

/// The rollout figure, next to the same load steady.
pub fn print_rollout(result: &super::rollout::RolloutResult) {
    println!(
        "\nrollout: every replica of 2 frontends (behind nginx) and 2 backends replaced, {} concurrent, distinct keys, {} s windows (the rollout took {:.0} s)",
        result.concurrency, result.window_secs, result.rollout_secs
    );
    println!("  window           req/s     p50 ms   p99 ms   failed / requests");
    for (name, load) in [
        ("steady", &result.steady),
        ("during rollout", &result.during_rollout),
    ] {
        println!(
            "  {name:<15} {:>7.0}   {:>7.1}  {:>7.1}   {} / {}",
            load.requests_per_sec,
            load.p50_ms,
            load.p99_ms,
            load.errors,
            load.successes + load.errors
        );
        for (kind, count) in &load.error_kinds {
            println!("      {count} x {kind}");
        }
    }
}

pub fn print(results: &[VariantResult]) {
    for result in results {
        println!("\n== {} ==", result.name);
        println!(
            "start (median of restarts): frontend {:.1} ms to listening, {:.1} ms to ready; backend {:.1} ms to listening, {:.1} ms to ready",
            result.frontend_start.to_listening_ms,
            result.frontend_start.to_ready_ms,
            result.backend_start.to_listening_ms,
            result.backend_start.to_ready_ms
        );
        println!("idle RSS: {}", rss_list(&result.idle_rss_kib));
        println!(
            "{:>5} {:>8} {:>9} {:>9} {:>9} {:>7}  peak RSS",
            "conc", "keys", "req/s", "p50 ms", "p99 ms", "errors"
        );
        for level in &result.levels {
            println!(
                "{:>5} {:>8} {:>9.0} {:>9.2} {:>9.2} {:>7}  {}",
                level.concurrency,
                level.keys,
                level.load.requests_per_sec,
                level.load.p50_ms,
                level.load.p99_ms,
                level.load.errors,
                rss_list(&level.peak_rss_kib)
            );
        }
        println!("CPU per request (user + system), µs:");
        for level in &result.levels {
            let cpu = &level.cpu_us_per_request;
            let list: Vec<String> = cpu.iter().map(|(n, us)| format!("{n} {us:.0}")).collect();
            println!(
                "{:>5} {:>8}  {}; all {:.0}",
                level.concurrency,
                level.keys,
                list.join(", "),
                total(cpu)
            );
        }
    }
    let [ours, floor, others @ ..] = results else {
        return;
    };
    for other in others {
        println!("\n== {} / {} ==", other.name, floor.name);
        for (mine, base) in other.levels.iter().zip(&floor.levels) {
            let per_process: Vec<String> = (mine.cpu_us_per_request.iter())
                .zip(&base.cpu_us_per_request)
                .map(|((name, a), (_, b))| format!("{name} {a:.0} vs {b:.0} µs"))
                .collect();
            println!(
                "{:>3} concurrent, {} key(s): throughput {:.2}x, p99 {:.2}x; CPU per request {:.2}x: {}",
                mine.concurrency,
                mine.keys,
                mine.load.requests_per_sec / base.load.requests_per_sec,
                mine.load.p99_ms / base.load.p99_ms,
                total(&mine.cpu_us_per_request) / total(&base.cpu_us_per_request),
                per_process.join(", ")
            );
        }
    }
    println!("\n== ours / floor ==");
    for (mine, base) in ours.levels.iter().zip(&floor.levels) {
        let apps = |level: &super::LevelResult| {
            let is_app = |(name, _): &&(String, f64)| name == "frontend" || name == "backend";
            level
                .cpu_us_per_request
                .iter()
                .filter(is_app)
                .map(|(_, us)| us)
                .sum::<f64>()
        };
        println!(
            "{:>3} concurrent, {} key(s): throughput {:.2}x, p50 {:.2}x, p99 {:.2}x; CPU per request {:.2}x ({:+.0} µs, the two apps {:.0} µs vs {:.0} µs)",
            mine.concurrency,
            mine.keys,
            mine.load.requests_per_sec / base.load.requests_per_sec,
            mine.load.p50_ms / base.load.p50_ms,
            mine.load.p99_ms / base.load.p99_ms,
            total(&mine.cpu_us_per_request) / total(&base.cpu_us_per_request),
            total(&mine.cpu_us_per_request) - total(&base.cpu_us_per_request),
            apps(mine),
            apps(base),
        );
    }
    println!("\n== targets ==");
    for verdict in targets(ours, floor) {
        println!("{verdict}");
    }
}

fn targets(ours: &VariantResult, floor: &VariantResult) -> Vec<String> {
    let mark = |ok: bool| if ok { "ok  " } else { "MISS" };
    let mut out = Vec::new();
    for (mine, base) in ours.levels.iter().zip(&floor.levels) {
        if mine.concurrency >= 16 {
            let ratio = mine.load.requests_per_sec / base.load.requests_per_sec;
            out.push(format!(
                "{} throughput at {} concurrent, {} key(s): {ratio:.2}x the floor (target >= {THROUGHPUT_RATIO})",
                mark(ratio >= THROUGHPUT_RATIO),
                mine.concurrency,
                mine.keys
            ));
            let ratio = mine.load.p99_ms / base.load.p99_ms;
            out.push(format!(
                "{} p99 at {} concurrent, {} key(s): {ratio:.2}x the floor's (target <= {P99_RATIO})",
                mark(ratio <= P99_RATIO),
                mine.concurrency,
                mine.keys
            ));
        }
        if mine.concurrency == 64 && mine.keys == "one" {
            out.push(format!(
                "{} errors at 64 concurrent on one key: {} (the floor {}; target 0)",
                mark(mine.load.errors == 0),
                mine.load.errors,
                base.load.errors
            ));
        }
    }
    for app in ["frontend", "backend"] {
        let idle = mib(&ours.idle_rss_kib, app);
        out.push(format!(
            "{} {app} idle RSS: {idle:.1} MiB (target <= {IDLE_RSS_MIB})",
            mark(idle <= IDLE_RSS_MIB)
        ));
        if let Some(level) = ours
            .levels
            .iter()
            .find(|l| l.concurrency == 64 && l.keys == "one")
        {
            let loaded = mib(&level.peak_rss_kib, app);
            out.push(format!(
                "{} {app} RSS at 64 concurrent: {loaded:.1} MiB (target <= {LOADED_RSS_MIB})",
                mark(loaded <= LOADED_RSS_MIB)
            ));
        }
    }
    for (app, start) in [
        ("frontend", &ours.frontend_start),
        ("backend", &ours.backend_start),
    ] {
        out.push(format!(
            "{} {app} start to listening: {:.1} ms (target <= {LISTENING_MS})",
            mark(start.to_listening_ms <= LISTENING_MS),
            start.to_listening_ms
        ));
    }
    out
}

fn total(cpu: &[(String, f64)]) -> f64 {
    cpu.iter().map(|(_, us)| us).sum()
}

fn mib(rss: &[(String, u64)], name: &str) -> f64 {
    rss.iter()
        .find(|(process, _)| process == name)
        .map_or(f64::NAN, |(_, kib)| *kib as f64 / MIB)
}

fn rss_list(rss: &[(String, u64)]) -> String {
    rss.iter()
        .map(|(name, kib)| format!("{name} {:.1} MiB", *kib as f64 / MIB))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes `bench.json` and `bench.svg` into `dir`; says what it wrote.
pub fn write(dir: &Path, results: &[VariantResult], duration_secs: u64) -> std::io::Result<String> {
    std::fs::create_dir_all(dir)?;
    let verdicts = match results {
        [ours, floor, ..] => targets(ours, floor),
        _ => Vec::new(),
    };
    let document = json!({
        "duration_secs_per_level": duration_secs,
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "load_average": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "variants": results,
        "targets": verdicts,
    });
    let json_path = dir.join("bench.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&document)?)?;
    let svg_path = dir.join("bench.svg");
    std::fs::write(&svg_path, svg(results))?;
    Ok(format!(
        "{} and {}",
        json_path.display(),
        svg_path.display()
    ))
}

/// Four panels of grouped bars, ours next to the floor: requests/s and p99 per concurrency
/// level, and each process's RSS and CPU time per request under the highest load.
fn svg(results: &[VariantResult]) -> String {
    let [ours, floor, ..] = results else {
        return String::new();
    };
    let levels = |value: fn(&super::LevelResult) -> f64| -> Vec<(String, f64, f64)> {
        ours.levels
            .iter()
            .zip(&floor.levels)
            .map(|(a, b)| {
                let distinct = if a.keys == "distinct" {
                    " distinct"
                } else {
                    ""
                };
                (format!("c={}{distinct}", a.concurrency), value(a), value(b))
            })
            .collect()
    };
    let throughput = levels(|l| l.load.requests_per_sec);
    let p99 = levels(|l| l.load.p99_ms);
    let (last_ours, last_floor) = (ours.levels.last(), floor.levels.last());
    let rss: Vec<(String, f64, f64)> = match (last_ours, last_floor) {
        (Some(a), Some(b)) => a
            .peak_rss_kib
            .iter()
            .zip(&b.peak_rss_kib)
            .map(|((name, x), (_, y))| (name.clone(), *x as f64 / MIB, *y as f64 / MIB))
            .collect(),
        _ => Vec::new(),
    };
    let cpu: Vec<(String, f64, f64)> = match (last_ours, last_floor) {
        (Some(a), Some(b)) => a
            .cpu_us_per_request
            .iter()
            .zip(&b.cpu_us_per_request)
            .map(|((name, x), (_, y))| (name.clone(), *x, *y))
            .collect(),
        _ => Vec::new(),
    };
    let top = last_ours.map_or(0, |l| l.concurrency);
    let mut out = String::from(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="1360" height="300" font-family="sans-serif" font-size="11">
<rect width="1360" height="300" fill="white"/>
<rect x="1100" y="8" width="10" height="10" fill="#2b6cb0"/><text x="1114" y="17">ours</text>
<rect x="1160" y="8" width="10" height="10" fill="#a0aec0"/><text x="1174" y="17">floor (echo apps, one save)</text>
"##,
    );
    panel(&mut out, 10.0, "requests/s", &throughput);
    panel(&mut out, 350.0, "p99 latency, ms", &p99);
    panel(&mut out, 690.0, &format!("peak RSS at c={top}, MiB"), &rss);
    panel(
        &mut out,
        1030.0,
        &format!("CPU per request at c={top}, µs"),
        &cpu,
    );
    out.push_str("</svg>\n");
    out
}

fn panel(out: &mut String, x0: f64, title: &str, groups: &[(String, f64, f64)]) {
    let (width, height, base) = (320.0, 200.0, 260.0);
    let max = groups
        .iter()
        .flat_map(|(_, a, b)| [*a, *b])
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let _ = writeln!(
        out,
        r#"<text x="{x0}" y="40" font-size="13" font-weight="bold">{title}</text><line x1="{x0}" y1="{base}" x2="{}" y2="{base}" stroke="black"/>"#,
        x0 + width
    );
    let slot = width / groups.len().max(1) as f64;
    for (i, (label, a, b)) in groups.iter().enumerate() {
        let left = x0 + i as f64 * slot + slot * 0.15;
        let bar = slot * 0.33;
        for (j, (value, colour)) in [(*a, "#2b6cb0"), (*b, "#a0aec0")].into_iter().enumerate() {
            let value = if value.is_finite() { value } else { 0.0 };
            let h = value / max * height;
            let x = left + j as f64 * bar;
            let _ = writeln!(
                out,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{colour}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">{}</text>"#,
                base - h,
                bar - 2.0,
                x + bar / 2.0,
                base - h - 3.0,
                short(value)
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{label}</text>"#,
            left + bar,
            base + 15.0
        );
    }
}

fn short(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}
