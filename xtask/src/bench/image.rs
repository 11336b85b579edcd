//! The image figure: the container image's size next to the binaries', and the apps' start
//! when run from the image (chrooted, PID 1 of a pid namespace of their own, see
//! `launcher::image`) next to the binaries' start. Reported, not a target. Needs root and the
//! image's tools (`cargo xtask image`).

use std::path::Path;
use std::sync::Arc;

use launcher::{ImageRoot, Topology, TopologyOptions};
use serde::Serialize;

use super::measure::{self, Startup};

#[derive(Serialize)]
pub struct ImageResult {
    pub tag: String,
    /// The image's layers, uncompressed.
    pub image_bytes: u64,
    /// The static binary in the image (musl, release).
    pub image_binary_bytes: u64,
    /// The release binaries the other figures run (glibc, dynamically linked).
    pub frontend_binary_bytes: u64,
    pub backend_binary_bytes: u64,
    pub frontend_start: Startup,
    pub backend_start: Startup,
}

/// Builds (or finds) the image, starts the pair from it and times `starts` starts of each app.
pub async fn measure(bin_dir: &Path, starts: usize) -> anyhow::Result<ImageResult> {
    let built = crate::image::build()?;
    let image = Arc::new(ImageRoot::load(&built.dir)?);
    let size = |path: &Path| std::fs::metadata(path).map(|m| m.len()).unwrap_or_default();
    let mut topology = Topology::start(TopologyOptions {
        image: Some(image.clone()),
        ..TopologyOptions::default()
    })
    .await?;
    let timed = async {
        let frontend = measure::time_starts(&mut topology.frontend, starts).await?;
        let backend = measure::time_starts(&mut topology.backend, starts).await?;
        anyhow::Ok((frontend, backend))
    }
    .await;
    if timed.is_err() {
        eprintln!("{}", topology.log_tails(20));
    }
    topology.stop().await;
    let (frontend_start, backend_start) = timed?;
    Ok(ImageResult {
        tag: built.tag,
        image_bytes: built.size_bytes,
        image_binary_bytes: size(&image.rootfs.join("dapr-pair")),
        frontend_binary_bytes: size(&bin_dir.join("frontend")),
        backend_binary_bytes: size(&bin_dir.join("backend")),
        frontend_start,
        backend_start,
    })
}

pub fn print(result: &ImageResult, binaries: &super::VariantResult) {
    let mb = |bytes: u64| bytes as f64 / 1e6;
    println!("\nimage {} (reported, not a target)", result.tag);
    println!(
        "  size: image {:.1} MB (its static dapr-pair {:.1} MB); release binaries: frontend {:.1} MB, backend {:.1} MB",
        mb(result.image_bytes),
        mb(result.image_binary_bytes),
        mb(result.frontend_binary_bytes),
        mb(result.backend_binary_bytes)
    );
    for (app, image, binary) in [
        ("frontend", &result.frontend_start, &binaries.frontend_start),
        ("backend", &result.backend_start, &binaries.backend_start),
    ] {
        println!(
            "  {app} start (median): from the image {:.1} ms to listening, {:.1} ms to ready; the binary {:.1} ms, {:.1} ms",
            image.to_listening_ms, image.to_ready_ms, binary.to_listening_ms, binary.to_ready_ms
        );
    }
}
