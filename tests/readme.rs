//! What the README promises, checked by doing it: every `cargo run` command
//! it shows runs from the workspace root and prints something, and the
//! library's default features pull in no argument parser, runtime or HTTP
//! stack.
//!
//! Both run cargo, which builds things, so they are ignored by a plain
//! `cargo test`; `.ci/run` runs them with `--include-ignored`.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mmstats::{Counter, MmStats};

/// The workspace root, where the README's commands are typed.
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// How long building a command may take (nothing to do when `cargo test`
/// has just built the examples and the command; a cold build may need it).
const BUILD_BOUND: Duration = Duration::from_secs(600);
/// How long a command may run, from `cargo run` starting to its end.
const RUN_BOUND: Duration = Duration::from_secs(60);
/// How long a command that runs until stopped must keep running once it has
/// printed something.
const STILL_RUNNING: Duration = Duration::from_secs(3);

/// The commands of the README's ```sh blocks that start with `cargo run`,
/// without their `# comment`.
fn readme_commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in readme.lines() {
        let trimmed = line.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            in_sh = !in_sh && matches!(info.trim(), "sh" | "bash" | "shell" | "console");
            continue;
        }
        if !in_sh {
            continue;
        }
        let command = strip_comment(trimmed).trim();
        if command == "cargo run" || command.starts_with("cargo run ") {
            commands.push(command.to_string());
        }
    }
    commands
}

/// `line` up to a `#` that starts a shell comment (at the start or after
/// white space).
fn strip_comment(line: &str) -> &str {
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        if c == '#' && previous.is_whitespace() {
            return &line[..i];
        }
        previous = c;
    }
    line
}

/// The argument that makes a command end by itself, for the commands that
/// otherwise run until Ctrl-C and have one; `None` for a command that ends
/// anyway or has no such bound (it is then stopped once seen running).
fn own_bound(words: &[&str]) -> Option<&'static [&'static str]> {
    let has = |w: &str| words.contains(&w);
    let has_pair = |a: &str, b: &str| words.windows(2).any(|p| p == [a, b]);
    if has("--duration") || has("--count") || has("-c") {
        None
    } else if has_pair("--example", "webserver") || has_pair("--example", "metrics_server") {
        Some(&["--duration", "3s"])
    } else if has("poll") {
        Some(&["--count", "3"])
    } else if has("record") {
        Some(&["--duration", "3s"])
    } else {
        None
    }
}

/// Whether a command runs until stopped even with the arguments given.
fn runs_until_stopped(words: &[&str]) -> bool {
    words.contains(&"serve")
}

/// Stops `child`'s whole process group (cargo and what it started).
fn kill_group(child: &mut Child, signal: i32) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: sending a signal has no memory effects; the group is the
        // one this test made for the child.
        unsafe { libc::kill(-pid, signal) };
    }
}

/// Waits for `child` up to `bound`; `None` if it is still running then.
fn wait_for(child: &mut Child, bound: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// A command run from the workspace root, in its own process group, with
/// the stats directory `stats_dir` and its output in files under `out_dir`.
fn spawn(args: &[&str], stats_dir: &Path, out_dir: &Path, name: &str) -> Child {
    let stdout = File::create(out_dir.join(format!("{name}.out"))).unwrap();
    let stderr = File::create(out_dir.join(format!("{name}.err"))).unwrap();
    Command::new(env!("CARGO"))
        .args(args)
        .current_dir(ROOT)
        .env("MMSTATS_PATH", stats_dir)
        .env_remove("MMSTATS_GLOB")
        .env_remove("MMSTATS_FILES")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .unwrap()
}

/// What a run printed, for failure messages.
fn printed(out_dir: &Path, name: &str) -> String {
    let read = |ext: &str| {
        std::fs::read_to_string(out_dir.join(format!("{name}.{ext}"))).unwrap_or_default()
    };
    format!("stdout:\n{}\nstderr:\n{}", read("out"), read("err"))
}

/// A file in the stats directory, so that the tools the README runs have
/// something to show.
#[derive(MmStats)]
#[mmstats(prefix = "readme.")]
struct ReadmeStats {
    /// Commands of the README run.
    commands: Counter,
}

#[test]
#[ignore = "needs cargo and builds the examples: run by .ci/run"]
fn readme_cargo_run_commands_work() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let commands = readme_commands(&readme);
    assert!(
        commands.iter().any(|c| c.contains("--example webserver")),
        "the README's demo command is not found: {commands:?}"
    );
    let stats_dir = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let stats = ReadmeStats::builder()
        .dir(stats_dir.path())
        .create()
        .unwrap();

    for (n, command) in commands.iter().enumerate() {
        stats.commands.incr();
        let name = format!("command-{n}");
        assert!(
            !command.contains(['\'', '"', '$', '`', '|', '&', ';', '<', '>', '\\']),
            "{command}: only plain words are run here; keep the README's command simple"
        );
        let words: Vec<&str> = command.split_whitespace().collect();
        // `cargo run -q ARGS... [-- PROGRAM ARGS...]`, with the program's
        // own bound, if any, at the end.
        let mut args = vec!["run", "-q"];
        args.extend(words.iter().skip(2));
        if let Some(bound) = own_bound(&words) {
            if !args.contains(&"--") {
                args.push("--");
            }
            args.extend(bound);
        }

        // Build first, so that the run's bound is for the run.
        let cargo_args: Vec<&str> = args.iter().copied().take_while(|a| *a != "--").collect();
        let mut build_args = vec!["build"];
        build_args.extend(cargo_args.iter().skip(1));
        let build_name = format!("{name}-build");
        let mut build = spawn(&build_args, stats_dir.path(), out_dir.path(), &build_name);
        match wait_for(&mut build, BUILD_BOUND) {
            Some(status) => assert!(
                status.success(),
                "cargo {}: {status}\n{}",
                build_args.join(" "),
                printed(out_dir.path(), &build_name)
            ),
            None => {
                kill_group(&mut build, libc::SIGKILL);
                let _ = build.wait();
                panic!(
                    "cargo {}: not built in {BUILD_BOUND:?}",
                    build_args.join(" ")
                );
            }
        }

        let out = out_dir.path().join(format!("{name}.out"));
        let err = out_dir.path().join(format!("{name}.err"));
        let mut child = spawn(&args, stats_dir.path(), out_dir.path(), &name);
        let shown = format!("{command} (run as cargo {})", args.join(" "));
        if runs_until_stopped(&words) && own_bound(&words).is_none() {
            // Running with output, and still running a while later.
            let deadline = Instant::now() + RUN_BOUND;
            while file_len(&out) + file_len(&err) == 0 && Instant::now() < deadline {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!(
                        "{shown}: ended ({status}) without output, though it runs until stopped"
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let ended = wait_for(&mut child, STILL_RUNNING);
            kill_group(&mut child, libc::SIGINT);
            if wait_for(&mut child, Duration::from_secs(5)).is_none() {
                kill_group(&mut child, libc::SIGKILL);
                let _ = child.wait();
            }
            assert!(
                ended.is_none(),
                "{shown}: ended ({ended:?}), though it runs until stopped\n{}",
                printed(out_dir.path(), &name)
            );
        } else {
            let status = wait_for(&mut child, RUN_BOUND);
            if status.is_none() {
                kill_group(&mut child, libc::SIGKILL);
                let _ = child.wait();
            }
            let status = status.unwrap_or_else(|| {
                panic!(
                    "{shown}: still running after {RUN_BOUND:?}\n{}",
                    printed(out_dir.path(), &name)
                )
            });
            assert!(
                status.success(),
                "{shown}: {status}\n{}",
                printed(out_dir.path(), &name)
            );
        }
        assert!(
            file_len(&out) + file_len(&err) > 0,
            "{shown}: printed nothing"
        );
        println!("ok: {shown}");
    }
}

/// The crate names in `cargo tree --prefix none` output.
fn tree(features: &[&str]) -> Vec<String> {
    let mut args = vec![
        "tree",
        "-p",
        "mmstats",
        "-e",
        "normal",
        "--prefix",
        "none",
        "--offline",
    ];
    args.extend(features);
    let out = Command::new(env!("CARGO"))
        .args(&args)
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut crates: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .collect();
    crates.sort();
    crates.dedup();
    crates
}

#[test]
#[ignore = "needs cargo and builds the examples: run by .ci/run"]
fn default_dependencies_are_lean() {
    let heavy = [
        "clap",
        "tokio",
        "hyper",
        "hyper-util",
        "serde_json",
        "http-body-util",
        "ctrlc",
    ];
    let default = tree(&[]);
    assert!(default.iter().any(|c| c == "mmstats"), "{default:?}");
    let pulled: Vec<&str> = heavy
        .iter()
        .copied()
        .filter(|h| default.iter().any(|c| c == h))
        .collect();
    assert!(
        pulled.is_empty(),
        "the default features of mmstats pull in {pulled:?}: {default:?}"
    );
    // The same look at the tree finds them where they belong.
    let serve = tree(&["--features", "serve"]);
    for needed in ["hyper", "tokio", "serde_json"] {
        assert!(
            serve.iter().any(|c| c == needed),
            "--features serve has no {needed}: {serve:?}"
        );
    }
}

#[test]
fn commands_are_found_and_comments_stripped() {
    let readme = "\
text `cargo run --nope`
```sh
cargo run --example a   # the # comment
cargo install --path .  # or: cargo run --bin x
cargo run --bin x -- slurp
```
```rust
cargo run --not-shell
```
";
    assert_eq!(
        readme_commands(readme),
        ["cargo run --example a", "cargo run --bin x -- slurp"]
    );
    assert_eq!(strip_comment("a#b # c"), "a#b ");
    let words = ["cargo", "run", "--example", "webserver"];
    assert_eq!(own_bound(&words), Some(&["--duration", "3s"][..]));
    let words = [
        "cargo",
        "run",
        "--example",
        "webserver",
        "--",
        "--duration",
        "1s",
    ];
    assert_eq!(own_bound(&words), None);
}
