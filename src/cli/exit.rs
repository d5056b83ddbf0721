//! Every exit code signgate ends with, in one place.

use std::process::ExitCode;

/// How a command ended. Arguments clap cannot parse exit with clap's own
/// usage code, 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done; the image allowed; every pull goes through signgate.
    Ok,
    /// 1: a verdict against: an image denied, something refused, a bypass
    /// found.
    Refused,
    /// 1: `serve` or `tls self-signed` could not do its work (the runtime,
    /// a socket, the app, files).
    Failed,
    /// 2: a one-shot command's error short of a verdict.
    Error,
    /// 2: an argument that cannot be used, as clap's own usage errors.
    Usage,
    /// 64 (EX_USAGE): a configuration or policy the operator must fix.
    Config,
}

impl Exit {
    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Refused | Exit::Failed => 1,
            Exit::Error | Exit::Usage => 2,
            Exit::Config => 64,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes the README and the e2e tests name.
    #[test]
    fn each_ending_has_its_documented_code() {
        for (exit, code) in [
            (Exit::Ok, 0),
            (Exit::Refused, 1),
            (Exit::Failed, 1),
            (Exit::Error, 2),
            (Exit::Usage, 2),
            (Exit::Config, 64),
        ] {
            assert_eq!(exit.code(), code, "{exit:?}");
        }
    }
}
