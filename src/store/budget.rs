//! When what the roots reach alone exceeds the budget: which roots to drop.
//!
//! The budget covers everything, roots included. Image roots go least
//! recently used first; a signature-material root (`material-of` a
//! subject) lives exactly as long as some image root still reaches its
//! subject, so it goes with its image and before anything else when it
//! has none. A blob is freed when no remaining root reaches it. Pure: the
//! caller supplies closures, sizes and recency, and applies the plan.

use std::collections::{HashMap, HashSet};

use crate::oci::Digest;

/// What one root reaches.
#[derive(Debug, Clone, Default)]
pub(super) struct Closure {
    /// The manifests on the way (the root, index children, subjects).
    pub manifests: HashSet<Digest>,
    /// Everything, manifests included.
    pub all: HashSet<Digest>,
}

/// One root as the planner sees it.
#[derive(Debug, Clone)]
pub(super) struct Root {
    pub closure: Closure,
    /// `Some(subject)` for signature material.
    pub material_of: Option<Digest>,
    /// Larger is more recent.
    pub last_use: u64,
}

/// The roots to drop (their positions) and the blobs that frees.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Plan {
    pub drop: Vec<usize>,
    pub freed: Vec<Digest>,
}

/// Drop roots until the projected size is within `budget` (or nothing
/// is left to drop).
pub(super) fn plan(roots: &[Root], size: impl Fn(&Digest) -> u64, used: u64, budget: u64) -> Plan {
    let mut state = State {
        roots,
        live: vec![true; roots.len()],
        refs: HashMap::new(),
        reach: HashMap::new(),
        projected: used,
        plan: Plan::default(),
    };
    for root in roots {
        for d in &root.closure.all {
            *state.refs.entry(d).or_default() += 1;
        }
        if root.material_of.is_none() {
            for m in &root.closure.manifests {
                *state.reach.entry(m).or_default() += 1;
            }
        }
    }
    state.drop_orphaned_material(&size);
    let mut images: Vec<usize> = (0..roots.len())
        .filter(|&i| roots.get(i).is_some_and(|r| r.material_of.is_none()))
        .collect();
    images.sort_by_key(|&i| roots.get(i).map_or(0, |r| r.last_use));
    for i in images {
        if state.projected <= budget {
            break;
        }
        state.drop(i, &size);
        state.drop_orphaned_material(&size);
    }
    state.plan.drop.sort_unstable();
    state.plan
}

struct State<'a> {
    roots: &'a [Root],
    live: Vec<bool>,
    /// Live roots reaching each digest.
    refs: HashMap<&'a Digest, usize>,
    /// Live image roots reaching each manifest.
    reach: HashMap<&'a Digest, usize>,
    projected: u64,
    plan: Plan,
}

impl State<'_> {
    fn drop(&mut self, i: usize, size: &impl Fn(&Digest) -> u64) {
        let (Some(root), Some(live)) = (self.roots.get(i), self.live.get_mut(i)) else {
            return;
        };
        if !*live {
            return;
        }
        *live = false;
        self.plan.drop.push(i);
        for d in &root.closure.all {
            if let Some(n) = self.refs.get_mut(d) {
                *n -= 1;
                if *n == 0 {
                    self.projected = self.projected.saturating_sub(size(d));
                    self.plan.freed.push(d.clone());
                }
            }
        }
        if root.material_of.is_none() {
            for m in &root.closure.manifests {
                if let Some(n) = self.reach.get_mut(m) {
                    *n -= 1;
                }
            }
        }
    }

    /// Drop every live material root whose subject no live image reaches.
    fn drop_orphaned_material(&mut self, size: &impl Fn(&Digest) -> u64) {
        let orphans: Vec<usize> = self
            .roots
            .iter()
            .enumerate()
            .filter(|(i, r)| {
                self.live.get(*i).copied().unwrap_or(false)
                    && r.material_of
                        .as_ref()
                        .is_some_and(|s| self.reach.get(s).copied().unwrap_or(0) == 0)
            })
            .map(|(i, _)| i)
            .collect();
        for i in orphans {
            self.drop(i, size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::sha256_of(s.as_bytes())
    }

    fn image(manifest: &str, blobs: &[&str], last_use: u64) -> Root {
        let mut closure = Closure::default();
        closure.manifests.insert(d(manifest));
        closure.all.insert(d(manifest));
        closure.all.extend(blobs.iter().map(|b| d(b)));
        Root {
            closure,
            material_of: None,
            last_use,
        }
    }

    fn material(of: &str, manifest: &str, blobs: &[&str]) -> Root {
        Root {
            material_of: Some(d(of)),
            ..image(manifest, blobs, u64::MAX)
        }
    }

    #[test]
    fn least_recently_used_images_go_first_with_their_material() {
        let roots = [
            image("new", &["shared", "n1"], 3),
            image("old", &["shared", "o1"], 1),
            material("old", "old.sig", &["old-payload"]),
            image("mid", &["m1"], 2),
        ];
        // Every digest weighs 10: 10 digests, 100 bytes; budget 70.
        let p = plan(&roots, |_| 10, 100, 70);
        assert_eq!(p.drop, vec![1, 2], "old and its signature");
        let freed: HashSet<_> = p.freed.into_iter().collect();
        let expected: HashSet<_> = ["old", "o1", "old.sig", "old-payload"]
            .into_iter()
            .map(d)
            .collect();
        assert_eq!(freed, expected, "the shared blob stays");
    }

    #[test]
    fn orphaned_material_goes_before_any_image() {
        let roots = [
            image("a", &["a1"], 1),
            material("gone", "gone.sig", &["gone-payload"]),
        ];
        let p = plan(&roots, |_| 10, 40, 30);
        assert_eq!(p.drop, vec![1]);
    }

    #[test]
    fn material_of_a_platform_manifest_lives_with_its_index() {
        let mut index = image("index", &[], 1);
        index.closure.manifests.insert(d("child"));
        index.closure.all.insert(d("child"));
        let roots = [index, material("child", "child.sig", &[])];
        assert_eq!(plan(&roots, |_| 10, 30, 30).drop, Vec::<usize>::new());
        assert_eq!(plan(&roots, |_| 10, 30, 0).drop, vec![0, 1]);
    }

    #[test]
    fn a_budget_below_one_image_drops_everything() {
        let roots = [image("a", &["a1"], 1), image("b", &["b1"], 2)];
        let p = plan(&roots, |_| 600, 2400, 1000);
        assert_eq!(p.drop, vec![0, 1]);
        assert_eq!(p.freed.len(), 4);
    }
}
