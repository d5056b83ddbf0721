//! What loading a policy reports: one problem per file, document and key
//! path, every one of them at once.

use std::fmt;
use std::path::{Path, PathBuf};

use super::glob::Registries;

/// One problem in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub file: PathBuf,
    /// 1-based YAML document number within the file.
    pub document: usize,
    pub path: String,
    pub message: String,
}

/// Every problem found while loading a policy directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

/// Where the problems of one YAML document go, and what its globs are
/// checked against.
pub(super) struct Problems<'a> {
    pub(super) file: &'a Path,
    pub(super) document: usize,
    pub(super) errors: &'a mut Vec<PolicyError>,
    pub(super) warnings: &'a mut Vec<PolicyError>,
    /// What glob hosts are checked against.
    pub(super) registries: &'a Registries,
}

impl Problems<'_> {
    fn error(&self, path: &str, message: impl Into<String>) -> PolicyError {
        PolicyError {
            file: self.file.to_path_buf(),
            document: self.document,
            path: path.to_owned(),
            message: message.into(),
        }
    }

    pub(super) fn push(&mut self, path: &str, message: impl Into<String>) {
        let e = self.error(path, message);
        self.errors.push(e);
    }

    pub(super) fn warn(&mut self, path: &str, message: impl Into<String>) {
        let w = self.error(path, message);
        self.warnings.push(w);
    }
}
impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.document > 0 {
            write!(f, ": document {}", self.document)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}
