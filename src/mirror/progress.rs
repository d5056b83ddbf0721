//! Progress for `signgate mirror`: bars for images and bytes on a terminal
//! (`indicatif`), plain lines otherwise (CI logs, pipes).

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

pub(crate) struct Progress {
    bars: Option<(MultiProgress, ProgressBar, ProgressBar)>,
}

impl Progress {
    pub(crate) fn new(images: u64) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { bars: None };
        }
        let multi = MultiProgress::new();
        let images_bar = multi.add(ProgressBar::new(images));
        images_bar.set_style(
            ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        images_bar.set_prefix("images");
        let bytes_bar = multi.add(ProgressBar::new_spinner());
        bytes_bar.set_style(
            ProgressStyle::with_template("{prefix:>8} {bytes} ({binary_bytes_per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bytes_bar.set_prefix("bytes");
        Progress {
            bars: Some((multi, images_bar, bytes_bar)),
        }
    }

    /// Starting one image.
    pub(crate) fn image(&self, image: &str) {
        match &self.bars {
            Some((_, images, _)) => images.set_message(image.to_owned()),
            None => eprintln!("signgate mirror: {image}"),
        }
    }

    /// One image done, with its outcome.
    pub(crate) fn done(&self, image: &str, outcome: &str) {
        match &self.bars {
            Some((multi, images, _)) => {
                let _ = multi.println(format!("{image}: {outcome}"));
                images.inc(1);
            }
            None => eprintln!("signgate mirror: {image}: {outcome}"),
        }
    }

    pub(crate) fn bytes(&self, n: u64) {
        if let Some((_, _, bytes)) = &self.bars {
            bytes.inc(n);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some((_, images, bytes)) = &self.bars {
            images.finish();
            bytes.finish();
        }
    }
}
