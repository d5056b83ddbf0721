//! Keeping a blob as it streams to a client: chunks go to a writer task
//! over a bounded channel; if the disk falls behind, the copy is abandoned
//! rather than the client slowed. The task commits only on `Done`, which
//! the streaming body sends after the whole blob hashed to its digest (and
//! the [`BlobWriter`](super::BlobWriter) checks again); anything else leaves
//! no file under the digest's name.

use bytes::Bytes;
use tokio::sync::mpsc;

use super::Store;
use crate::oci::Digest;

/// The sending side of one blob's copy into the store.
pub struct Keeper {
    tx: mpsc::Sender<Keep>,
}

enum Keep {
    Data(Bytes),
    Done,
}

/// Chunks buffered between the client's stream and the disk.
const KEEP_QUEUE: usize = 64;

impl Keeper {
    /// Pass a chunk on; false when the copy was abandoned.
    pub fn chunk(&self, data: &Bytes) -> bool {
        self.tx.try_send(Keep::Data(data.clone())).is_ok()
    }

    /// The whole blob verified: publish it.
    pub fn done(self) {
        let _ = self.tx.try_send(Keep::Done);
    }
}

impl Store {
    /// A keeper writing `digest` into this store from a spawned task.
    pub fn keeper(&self, digest: &Digest) -> Keeper {
        let (tx, mut rx) = mpsc::channel(KEEP_QUEUE);
        let store = self.clone();
        let digest = digest.clone();
        tokio::spawn(async move {
            let Ok(mut writer) = store.blob_writer(&digest).await else {
                return;
            };
            while let Some(keep) = rx.recv().await {
                match keep {
                    Keep::Data(data) => {
                        if writer.write(&data).await.is_err() {
                            return;
                        }
                    }
                    Keep::Done => {
                        if let Err(e) = writer.commit().await {
                            tracing::warn!(%digest, error = %e, "could not keep a blob in the store");
                        }
                        return;
                    }
                }
            }
            // The transfer ended early or failed: the writer's temp file
            // goes with it.
        });
        Keeper { tx }
    }
}
