//! Project automation for academy-rs: `cargo xtask <command>`.
//!
//! * `setup`   — install what the tests need on a fresh machine: `redis-server`
//!   (apt-get) and a Python virtualenv under `target/venv` with the pinned
//!   academy-py 1.0.0 (`xtask/python-requirements.txt`).
//! * `test`    — `setup`, then fmt, clippy (`-D warnings`), every test (nextest),
//!   doctests and `cargo doc` (warnings denied); interop tests are required.
//! * `vectors` — regenerate the golden message vectors with academy-py.
//! * `bench`   — the benchmarks side by side with academy-py (`crates/academy-bench`).
//! * `soak`    — the reliability scenarios of `tests/` (package `academy-e2e`)
//!   at their long sizes (`RELIABILITY.md`); not run in CI.
//!
//! Only the standard library is used, so the task runner builds in seconds.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("setup") => setup().map(|_| ()),
        Some("test") => test(&args[1..]),
        Some("vectors") => vectors(),
        Some("bench") => bench(&args[1..]),
        Some("soak") => soak(&args[1..]),
        Some("-h" | "--help" | "help") | None => {
            println!("{}", USAGE);
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <setup|test|vectors|bench|soak> [args]
  setup            install redis-server and the academy-py 1.0.0 venv (target/venv)
  test [-- ARGS]   setup, fmt --check, clippy -D warnings, all tests, doctests, docs
  vectors          regenerate crates/academy-exchange/tests/vectors with academy-py
  bench [ARGS]     run the benchmarks side by side with academy-py
  soak [-- ARGS]   the reliability scenarios (tests/, academy-e2e) at long sizes;
                   sizes come from ACADEMY_SOAK_* variables (see RELIABILITY.md)";

fn root() -> PathBuf {
    // xtask lives at <root>/xtask.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn step(name: &str) {
    println!("\n==> {name}");
}

fn run(cmd: &mut Command) -> Result {
    let shown = format!("{cmd:?}");
    let started = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    println!("    ({:.1}s)", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed with {status}"))
    }
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Makes sure redis-server and the Python peer are present; returns the venv's python.
fn setup() -> Result<PathBuf> {
    step("redis-server");
    if which("redis-server").is_some() {
        println!("    present");
    } else {
        println!("    missing: installing with apt-get");
        apt_install("redis-server")?;
        if which("redis-server").is_none() {
            return Err("redis-server still missing after apt-get install".into());
        }
    }
    // The package starts a system service on 6379; our tests start their own servers.

    // The server's TLS tests make a self-signed certificate with the openssl command.
    step("openssl");
    if which("openssl").is_some() {
        println!("    present");
    } else {
        apt_install("openssl")?;
    }

    step("academy-py 1.0.0 virtualenv");
    let venv = root().join("target").join("venv");
    let python = venv.join("bin").join("python");
    let requirements = root().join("xtask").join("python-requirements.txt");
    let marker = venv.join(".academy-requirements");
    let wanted = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("reading {}: {e}", requirements.display()))?;
    let current = std::fs::read_to_string(&marker).unwrap_or_default();
    let works = succeeds(Command::new(&python).args([
        "-c",
        "import importlib.metadata as m, academy.exchange.cloud, globus_sdk; assert m.version('academy-py') == '1.0.0'",
    ]));
    if works && current == wanted {
        println!("    present: {}", python.display());
        return Ok(python);
    }
    let base = ["python3.11", "python3"]
        .into_iter()
        .find_map(which)
        .ok_or("python3 not found")?;
    if !python.exists() {
        run(Command::new(&base).args(["-m", "venv"]).arg(&venv))?;
    }
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements))?;
    if !succeeds(Command::new(&python).args(["-c", "import academy.exchange.cloud, globus_sdk"])) {
        return Err("academy-py did not import after installation".into());
    }
    std::fs::write(&marker, wanted).map_err(|e| e.to_string())?;
    println!("    installed: {}", python.display());
    Ok(python)
}

fn test(extra: &[String]) -> Result {
    let python = setup()?;
    let started = Instant::now();

    step("cargo fmt --check");
    run(cargo().args(["fmt", "--all", "--check"]))?;

    step("cargo clippy -D warnings");
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))?;

    step("cargo nextest (every test; interop required)");
    let interop = |cmd: &mut Command| {
        cmd.env("ACADEMY_PY_PYTHON", &python)
            .env("ACADEMY_REQUIRE_INTEROP", "1");
    };
    let mut nextest = cargo();
    if succeeds(cargo().args(["nextest", "--version"])) {
        nextest.args([
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--no-fail-fast",
        ]);
        if env::var_os("CI").is_some() {
            nextest.args(["--profile", "ci"]);
        }
    } else {
        println!("    cargo-nextest not found: falling back to cargo test");
        nextest.args(["test", "--workspace", "--all-features", "--no-fail-fast"]);
        nextest.args(["--lib", "--bins", "--tests", "--examples"]);
    }
    nextest.args(extra.iter().skip_while(|a| *a == "--"));
    interop(&mut nextest);
    run(&mut nextest)?;

    step("doctests");
    let mut doc = cargo();
    doc.args(["test", "--workspace", "--all-features", "--doc"]);
    interop(&mut doc);
    run(&mut doc)?;

    step("cargo doc (warnings denied)");
    run(cargo()
        .args(["doc", "--workspace", "--no-deps", "--all-features"])
        .env("RUSTDOCFLAGS", "-D warnings"))?;

    println!(
        "\nall checks passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn vectors() -> Result {
    let python = setup()?;
    step("golden vectors");
    let dir = root().join("crates/academy-exchange/tests");
    run(Command::new(python)
        .arg(dir.join("py/make_vectors.py"))
        .arg(dir.join("vectors")))
}

fn bench(extra: &[String]) -> Result {
    let python = setup()?;
    step("benchmarks");
    run(cargo()
        .args(["run", "--release", "-p", "academy-bench", "--"])
        .args(extra)
        .env("ACADEMY_PY_PYTHON", python))
}

/// `apt-get install`, refreshing the package lists first when they are stale.
fn apt_install(package: &str) -> Result {
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    let install = ["install", "-y", "-q", "--no-install-recommends", package];
    if run(&mut apt(&install)).is_err() {
        run(&mut apt(&["update", "-q"]))?;
        run(&mut apt(&install))?;
    }
    Ok(())
}

/// Long sizes of the reliability scenarios; a variable already set wins.
const SOAK_SIZES: &[(&str, &str)] = &[
    ("ACADEMY_SOAK_FAULT_MESSAGES", "100000"),
    ("ACADEMY_SOAK_RESTART_MESSAGES", "20000"),
    ("ACADEMY_SOAK_TOKEN_MESSAGES", "10000"),
    ("ACADEMY_SOAK_LOAD_AGENTS", "1000"),
    ("ACADEMY_SOAK_LOAD_ROUNDS", "60"),
    ("ACADEMY_SOAK_HOSTILE_ROUNDS", "50"),
    ("ACADEMY_SOAK_SLOWLORIS_CONNECTIONS", "2000"),
    ("PROPTEST_CASES", "20000"),
    ("ACADEMY_SOAK_TIME_FACTOR", "30"),
];

fn soak(extra: &[String]) -> Result {
    let python = setup()?;
    step("server binary (the restart scenarios run it as a process)");
    run(cargo().args([
        "build",
        "-p",
        "academy-exchange-server",
        "--bin",
        "academy-exchange-server",
    ]))?;
    step("reliability scenarios at soak size");
    let mut cmd = cargo();
    cmd.args([
        "nextest",
        "run",
        "--profile",
        "soak",
        "-p",
        "academy-e2e",
        "--run-ignored",
        "all",
        "--no-fail-fast",
        // One at a time, printing the FIGURE lines RELIABILITY.md quotes.
        "--no-capture",
    ]);
    cmd.args(extra.iter().skip_while(|a| *a == "--"));
    for (key, value) in SOAK_SIZES {
        let value = env::var(key).unwrap_or_else(|_| (*value).to_string());
        println!("    {key}={value}");
        cmd.env(key, value);
    }
    cmd.env("ACADEMY_PY_PYTHON", &python);
    run(&mut cmd)
}

fn which(name: &str) -> Option<PathBuf> {
    env::var_os("PATH").and_then(|paths| {
        env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}
