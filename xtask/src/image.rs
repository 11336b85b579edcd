//! `cargo xtask image`: the container image built from the `Dockerfile` here, without Docker.
//!
//! The Dockerfile's build stage (`rust:1.95-alpine`) comes from a registry this machine may not
//! reach, so its one product, the static `dapr-pair` binary and the CA bundle, is made on the
//! host: `cargo build --release --target x86_64-unknown-linux-musl` with Debian's `musl-gcc`,
//! and the host's `/etc/ssl/certs/ca-certificates.crt`. They stand in for the `build` stage
//! through buildah's `--build-context build=DIR`; the runtime stage is the Dockerfile's, as it
//! is. The image is then unpacked into `TARGET/image/rootfs`, with its configuration in
//! `TARGET/image/image.json`, where the launcher starts apps from it (`launcher::image`).
//!
//! Built once per input: the tag is a hash of the binary, the CA bundle, the Dockerfile and the
//! labels, and an image already built with that tag is not built again. See docs/image.md.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use crate::cargo::target_dir;

/// The target whose binary runs on `scratch`: static, with musl.
pub const TARGET: &str = "x86_64-unknown-linux-musl";
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
const NAME: &str = "localhost/dapr-pair";

#[derive(clap::Args)]
pub struct Args {
    /// The size the image must stay under, in MB (10^6 bytes, as registries show it).
    #[arg(long, default_value_t = 20.0)]
    budget_mb: f64,
}

/// What `cargo xtask image` made: the image, unpacked.
pub struct Built {
    pub tag: String,
    /// The layers' uncompressed size, what `docker image inspect --format {{.Size}}` shows.
    pub size_bytes: u64,
    pub dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let built = build()?;
    let megabytes = built.size_bytes as f64 / 1e6;
    println!(
        "image {} : {megabytes:.1} MB ({} bytes; budget {} MB), unpacked in {}",
        built.tag,
        built.size_bytes,
        args.budget_mb,
        built.dir.join("rootfs").display()
    );
    ensure!(
        megabytes < args.budget_mb,
        "the image is {megabytes:.1} MB, over its budget of {} MB",
        args.budget_mb
    );
    Ok(())
}

/// Builds the binary and the image if their inputs changed, and unpacks it.
pub fn build() -> anyhow::Result<Built> {
    let root = repo_root();
    let target = target_dir()?;
    let dir = target.join("image");
    std::fs::create_dir_all(&dir)?;

    let started = Instant::now();
    let binary = build_binary(&target)?;
    ensure!(
        !has_interpreter(&binary)?,
        "{} is dynamically linked: it would not start on `scratch`",
        binary.display()
    );
    eprintln!(
        "xtask image: {} ({:.0} s)",
        binary.display(),
        started.elapsed().as_secs_f64()
    );

    // The `build` stage's files, where the Dockerfile's runtime stage copies them from.
    let context = dir.join("build-stage");
    let _ = std::fs::remove_dir_all(&context);
    std::fs::create_dir_all(context.join("etc/ssl/certs"))?;
    std::fs::copy(&binary, context.join("dapr-pair"))?;
    std::fs::copy(CA_BUNDLE, context.join("etc/ssl/certs/ca-certificates.crt"))
        .with_context(|| format!("copying {CA_BUNDLE} (Debian's ca-certificates)"))?;

    let revision = git(&root, &["rev-parse", "HEAD"]).unwrap_or_default();
    let source = git(&root, &["remote", "get-url", "origin"]).unwrap_or_default();
    let build_args = [("REVISION", revision), ("SOURCE", source)];
    let mut hashed: Vec<PathBuf> = vec![
        context.join("dapr-pair"),
        context.join("etc/ssl/certs/ca-certificates.crt"),
        root.join("Dockerfile"),
    ];
    let args_file = context.join("build-args");
    std::fs::write(
        &args_file,
        build_args
            .iter()
            .map(|(name, value)| format!("{name}={value}\n"))
            .collect::<String>(),
    )?;
    hashed.push(args_file);
    let tag = format!("{NAME}:{}", &content_hash(&hashed)?[..12]);

    let manifest = dir.join("image.json");
    let previous: Option<Value> = std::fs::read_to_string(&manifest)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    if previous.as_ref().and_then(|p| p["tag"].as_str()) == Some(&tag)
        && dir.join("rootfs/dapr-pair").is_file()
        && buildah(&["inspect", "--type", "image", &tag]).is_ok()
    {
        let size_bytes = previous.as_ref().and_then(|p| p["size_bytes"].as_u64());
        eprintln!("xtask image: {tag} is up to date");
        return Ok(Built {
            tag,
            size_bytes: size_bytes.unwrap_or_default(),
            dir,
        });
    }

    if buildah(&["inspect", "--type", "image", &tag]).is_err() {
        let started = Instant::now();
        let empty = dir.join("empty-context");
        std::fs::create_dir_all(&empty)?;
        let mut bud: Vec<String> = [
            "bud",
            "--isolation",
            "chroot",
            "--quiet",
            "--layers=false",
            "--file",
        ]
        .map(String::from)
        .to_vec();
        bud.push(root.join("Dockerfile").to_string_lossy().into_owned());
        bud.push("--build-context".into());
        bud.push(format!("build={}", context.display()));
        for (name, value) in &build_args {
            bud.push("--build-arg".into());
            bud.push(format!("{name}={value}"));
        }
        bud.extend(["--tag".into(), tag.clone()]);
        // The runtime stage copies nothing from the main context: an empty one.
        bud.push(empty.to_string_lossy().into_owned());
        let status = buildah_command()
            .args(&bud)
            .stdout(Stdio::null())
            .status()
            .context("running buildah: install Debian's `buildah`")?;
        ensure!(status.success(), "buildah bud failed ({status})");
        eprintln!(
            "xtask image: built {tag} ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
    }

    // Unpacked as a runtime unpacks it: the layers, in order, into an empty folder.
    let layout = dir.join("layout");
    let rootfs = dir.join("rootfs");
    for old in [&layout, &rootfs] {
        let _ = std::fs::remove_dir_all(old);
    }
    buildah(&[
        "push",
        "--quiet",
        "--disable-compression",
        &tag,
        &format!("dir:{}", layout.display()),
    ])?;
    let oci_manifest = read_json(&layout.join("manifest.json"))?;
    let config = read_json(&layout.join(blob(&oci_manifest["config"]["digest"])?))?;
    std::fs::create_dir_all(&rootfs)?;
    let mut size_bytes = 0;
    for layer in oci_manifest["layers"].as_array().into_iter().flatten() {
        let file = layout.join(blob(&layer["digest"])?);
        size_bytes += std::fs::metadata(&file)?.len();
        let status = Command::new("tar")
            .arg("--extract")
            .arg("--same-owner")
            .arg("--file")
            .arg(&file)
            .arg("--directory")
            .arg(&rootfs)
            .status()
            .context("running tar")?;
        ensure!(status.success(), "unpacking {} failed", file.display());
    }
    let _ = std::fs::remove_dir_all(&layout);

    // The image this target folder built before is removed: every commit makes a new one.
    if let Some(old) = previous.as_ref().and_then(|p| p["tag"].as_str())
        && old != tag
    {
        let _ = buildah(&["rmi", old]);
    }
    let record = json!({
        "tag": tag,
        "size_bytes": size_bytes,
        "config": config["config"],
    });
    std::fs::write(&manifest, serde_json::to_string_pretty(&record)?)?;
    Ok(Built {
        tag,
        size_bytes,
        dir,
    })
}

/// `cargo build --release` of the image's crate for [`TARGET`]; the binary.
fn build_binary(target: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args([
        "build",
        "--locked",
        "--quiet",
        "--release",
        "--package",
        "dapr-pair-image",
        "--target",
        TARGET,
    ]);
    // aws-lc-sys compiles C: for musl it needs musl's compiler wrapper (Debian's musl-tools).
    let cc = format!("CC_{}", TARGET.replace('-', "_"));
    if std::env::var_os(&cc).is_none() {
        command.env(&cc, "musl-gcc");
    }
    let status = command.status().context("running cargo build")?;
    if !status.success() {
        bail!(
            "cargo build for {TARGET} failed ({status}): it needs `rustup target add {TARGET}` and Debian's musl-tools"
        );
    }
    Ok(target.join(TARGET).join("release").join("dapr-pair"))
}

/// Whether an ELF file asks for a program interpreter (a dynamic loader): a static-pie binary
/// does not.
fn has_interpreter(path: &Path) -> anyhow::Result<bool> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        bytes.len() > 64 && &bytes[..4] == b"\x7fELF" && bytes[4] == 2,
        "{} is not a 64-bit ELF file",
        path.display()
    );
    let word = |at: usize, len: usize| {
        bytes[at..at + len]
            .iter()
            .rev()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    };
    let (table, entry_size, entries) = (word(0x20, 8), word(0x36, 2), word(0x38, 2));
    const PT_INTERP: u64 = 3;
    Ok((0..entries).any(|i| word((table + i * entry_size) as usize, 4) == PT_INTERP))
}

fn buildah_command() -> Command {
    let mut command = Command::new("buildah");
    // No overlay filesystem needed, as root or not; the same store for every call.
    command.args(["--storage-driver", "vfs"]);
    command
}

/// A buildah command whose output is not wanted; its error output if it fails.
fn buildah(args: &[&str]) -> anyhow::Result<()> {
    let output = buildah_command()
        .args(args)
        .output()
        .context("running buildah: install Debian's `buildah`")?;
    if !output.status.success() {
        bail!(
            "buildah {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(root)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// sha256 over the files' hashes, with `sha256sum` (coreutils).
fn content_hash(files: &[PathBuf]) -> anyhow::Result<String> {
    let output = Command::new("sha256sum")
        .args(files)
        .output()
        .context("running sha256sum")?;
    ensure!(output.status.success(), "sha256sum failed");
    let sums: String = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    std::io::Write::write_all(&mut child.stdin.take().context("stdin")?, sums.as_bytes())?;
    let output = child.wait_with_output()?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// The file name of a blob in a `dir:` layout: its digest without `sha256:`.
fn blob(digest: &Value) -> anyhow::Result<String> {
    digest
        .as_str()
        .and_then(|d| d.strip_prefix("sha256:"))
        .map(str::to_owned)
        .context("a blob digest")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ sits in the repository")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_binary_has_an_interpreter_and_one_without_program_headers_has_not() {
        // This test binary is dynamically linked (the host's glibc target).
        let this = std::env::current_exe().unwrap();
        assert!(has_interpreter(&this).unwrap());
        // A 64-bit ELF header with no program headers at all.
        let mut header = vec![0u8; 80];
        header[..5].copy_from_slice(b"\x7fELF\x02");
        let file = std::env::temp_dir().join(format!("xtask-elf-{}", std::process::id()));
        std::fs::write(&file, &header).unwrap();
        let found = has_interpreter(&file);
        let _ = std::fs::remove_file(&file);
        assert!(!found.unwrap());
    }
}
