//! One writer per digest: concurrent pulls of the same blob write it once.
//!
//! Each digest being written (or deleted by GC) has a `tokio::sync::Mutex`
//! in a map. The map itself is behind a `std::sync::Mutex` that is only held
//! to look up or remove an entry, never across an `.await`; the per-digest
//! mutex is a tokio one, held across the awaits of a whole transfer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::oci::Digest;

type Slots = Arc<Mutex<HashMap<Digest, Arc<AsyncMutex<()>>>>>;

/// The per-digest locks of one store.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    slots: Slots,
}

/// Exclusive right to create or delete one digest's file. Released on drop.
#[derive(Debug)]
pub(super) struct DigestGuard {
    // Field order matters: the lock is released before the ticket checks
    // whether anyone else still needs the map entry.
    _lock: OwnedMutexGuard<()>,
    _ticket: Ticket,
}

/// Keeps a digest's map entry alive while someone holds or awaits its lock,
/// and removes the entry when the last interested party goes away (also when
/// a waiter is cancelled).
#[derive(Debug)]
struct Ticket {
    slots: Slots,
    digest: Digest,
    lock: Arc<AsyncMutex<()>>,
}

impl InFlight {
    /// Wait until no one else writes or deletes `digest`, then hold it.
    pub(super) async fn lock(&self, digest: &Digest) -> DigestGuard {
        let ticket = self.ticket(digest);
        let lock = Arc::clone(&ticket.lock).lock_owned().await;
        DigestGuard {
            _lock: lock,
            _ticket: ticket,
        }
    }

    /// Hold `digest` if no one else does; GC uses this to skip busy blobs.
    pub(super) fn try_lock(&self, digest: &Digest) -> Option<DigestGuard> {
        let ticket = self.ticket(digest);
        let lock = Arc::clone(&ticket.lock).try_lock_owned().ok()?;
        Some(DigestGuard {
            _lock: lock,
            _ticket: ticket,
        })
    }

    fn ticket(&self, digest: &Digest) -> Ticket {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let lock = Arc::clone(slots.entry(digest.clone()).or_default());
        Ticket {
            slots: Arc::clone(&self.slots),
            digest: digest.clone(),
            lock,
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        // Two references left: the map's and this ticket's. Clones are only
        // made under the map lock, which is held here, so none can appear.
        if Arc::strong_count(&self.lock) == 2 {
            slots.remove(&self.digest);
        }
    }
}
