//! Attestation conditions written in Rego, as sigstore's policy-controller
//! has them: `attestations[].policy: {type: rego, data: "..."}`.
//!
//! The contract is policy-controller's (its `validateJSONWithModuleInput`):
//! the module must be `package sigstore`; the input is the whole verified
//! in-toto Statement (`_type`, `subject`, `predicateType`, `predicate`); the
//! result is `data.sigstore.isCompliant`, which is either
//!
//! - a boolean: `true` is compliant; or
//! - a set (or array) of `{"result": bool, "error": string, "warning": string}`
//!   objects: compliant when any has `result: true` (its `warning`, if any,
//!   is reported); otherwise the `error`s and `warning`s are the messages.
//!
//! Anything else fails closed: undefined (no rule body held, no `default`),
//! another type, or a malformed result object is *not compliant*.
//!
//! signgate's addition: a policy may define an optional rule `errors` (a
//! string, or a set or array of strings) that explains a refusal. It is
//! evaluated only when the verdict is not compliant, and only if the module
//! declares it, so it costs nothing on the admitting path; its strings
//! replace the generic "isCompliant is false/undefined" message.
//!
//! Syntax: policy-controller parses modules as Rego v0 (OPA's
//! `ast.RegoV0`), where `isCompliant { ... }` is a rule and `if`/`contains`/
//! `in`/`every` need `import rego.v1` or `import future.keywords`. Users also
//! write v1 (`isCompliant if { ... }`) without an import. A module is parsed
//! as v1 first and, if that fails, as v0; a module that parses under both
//! means the same under both (v1 only removed v0 forms), so the order only
//! decides which one parses. When both fail, the error of the parse that got
//! further is reported, with its line and column.
//!
//! Bounds (what regorus 0.14 offers, and what signgate uses):
//! - builtins: only those of the crate features compiled in (`std`, `arc`,
//!   `time`, `regex`, `semver`, `glob`). There is no network builtin: the
//!   `http` feature (whose `http.send` is a stub returning undefined anyway)
//!   and `opa-runtime` (`opa.runtime()`, which exposes the environment) are
//!   off. regorus resolves a function name when it evaluates the call, so a
//!   module calling an absent builtin loads, and its evaluation fails
//!   ("could not find function"), which denies.
//! - time: a cooperative wall-clock limit ([`EVALUATION_TIME_LIMIT`]),
//!   checked every few interpreter steps; an evaluation that runs past it
//!   is an error. A single builtin call (a huge `numbers.range`, say) is not
//!   interrupted mid-call.
//! - source size: regorus' default `PolicyLengthConfig` (1 MiB, 20,000
//!   lines, 1,024 columns per line).
//! - memory: regorus can cap memory only with its `allocator-memory-limits`
//!   feature, which replaces the global allocator with mimalloc; not used.
//! - builtin errors are strict (regorus' default): `to_number("x")` is an
//!   evaluation error, which denies, rather than OPA's default of making the
//!   expression undefined, which a `not` could turn into a pass.
//! - `print` output is gathered and dropped instead of going to stderr.

use std::num::NonZeroU32;
use std::time::Duration;

use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, Value};

/// Longest wall-clock time one evaluation may take.
pub const EVALUATION_TIME_LIMIT: Duration = Duration::from_millis(500);

/// Interpreter steps between two clock reads.
const TIME_CHECK_INTERVAL: u32 = 64;

/// The module name regorus reports in messages.
const MODULE_PATH: &str = "sigstore.rego";
const PACKAGE: &str = "data.sigstore";
const RULE: &str = "data.sigstore.isCompliant";
const ERRORS_RULE: &str = "data.sigstore.errors";

/// A compiled attestation condition.
///
/// Shared across tasks: it holds a parsed and prepared regorus engine and
/// clones it for each evaluation (regorus evaluates through `&mut self`);
/// a prepared clone shares the compiled policy, so a clone is cheap.
#[derive(Clone)]
pub struct RegoPolicy {
    name: String,
    engine: Engine,
    syntax: Syntax,
    has_errors_rule: bool,
}

/// Which Rego dialect the module parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    V0,
    V1,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub compliant: bool,
    /// Why not (or a warning when compliant); may be empty.
    pub messages: Vec<String>,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RegoPolicy>();
};

// === impl RegoPolicy ===

impl RegoPolicy {
    /// Compile at policy load time. `name` (the attestation's name) prefixes
    /// every error; errors name the problem: a syntax error with its line
    /// and column, a package other than `sigstore`, no `isCompliant` rule,
    /// or a compile error (an unsafe variable, say).
    pub fn compile(name: &str, source: &str) -> Result<RegoPolicy, String> {
        let fail = |message: String| format!("rego policy '{name}': {message}");
        let (mut engine, syntax) = parse(source).map_err(fail)?;

        let packages = engine
            .get_packages()
            .map_err(|e| fail(format!("cannot inspect the module{}", Diagnostic::of(&e))))?;
        if packages.iter().all(|p| p != PACKAGE) {
            let found = packages
                .first()
                .map_or("none", |p| p.strip_prefix("data.").unwrap_or(p.as_str()));
            return Err(fail(format!(
                "the module must declare `package sigstore` (found `package {found}`)"
            )));
        }
        let declares = |rule: &str| {
            engine
                .has_declared_rule_rooted_at(MODULE_PATH, rule)
                .map_err(|e| fail(format!("cannot inspect the module{}", Diagnostic::of(&e))))
        };
        if !declares("isCompliant")? {
            return Err(fail(
                "the module defines no `isCompliant` rule (policy-controller queries \
                 `data.sigstore.isCompliant`)"
                    .to_owned(),
            ));
        }
        let has_errors_rule = declares("errors")?;

        engine.set_gather_prints(true);
        engine.set_execution_timer_config(ExecutionTimerConfig {
            limit: EVALUATION_TIME_LIMIT,
            check_interval: NonZeroU32::new(TIME_CHECK_INTERVAL).unwrap_or(NonZeroU32::MIN),
        });
        // Analyse, schedule and compile now: errors surface at load time,
        // and the clones made per evaluation start prepared.
        engine
            .compile_with_entrypoint(&RULE.into())
            .map_err(|e| fail(format!("compile error{}", Diagnostic::of(&e))))?;

        Ok(RegoPolicy {
            name: name.to_owned(),
            engine,
            syntax,
            has_errors_rule,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The dialect the module parsed as.
    pub fn syntax(&self) -> Syntax {
        self.syntax
    }

    /// Evaluate on a verified in-toto Statement. `Ok` carries the verdict
    /// (undefined or non-boolean results are not compliant); `Err` is an
    /// evaluation error (a builtin error, conflicting rule values, the time
    /// limit), which the caller treats as a denial.
    pub fn evaluate(&self, statement: &serde_json::Value) -> Result<Verdict, String> {
        let input = <Value as serde::Deserialize>::deserialize(statement)
            .map_err(|e| format!("rego policy '{}': unusable input: {e}", self.name))?;
        let mut engine = self.engine.clone();
        engine.set_input(input);
        let result = engine.eval_rule(RULE.to_owned()).map_err(|e| {
            let error = Diagnostic::of(&e);
            format!("rego policy '{}': evaluation failed{error}", self.name)
        })?;
        let mut verdict = interpret(&result);
        if !verdict.compliant && self.has_errors_rule {
            match engine.eval_rule(ERRORS_RULE.to_owned()) {
                Ok(errors) => {
                    let explained = strings(&errors);
                    if matches!(result, Value::Bool(false) | Value::Undefined)
                        && !explained.is_empty()
                    {
                        verdict.messages.clear();
                    }
                    verdict.messages.extend(explained);
                }
                Err(e) => verdict
                    .messages
                    .push(format!("evaluating `errors` failed{}", Diagnostic::of(&e))),
            }
        }
        // `print` output was gathered into the clone, and goes with it.
        Ok(verdict)
    }
}

impl std::fmt::Debug for RegoPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegoPolicy")
            .field("name", &self.name)
            .field("syntax", &self.syntax)
            .field("has_errors_rule", &self.has_errors_rule)
            .finish_non_exhaustive()
    }
}

/// Parse as v1, then as v0; on two failures, report the one that got further.
fn parse(source: &str) -> Result<(Engine, Syntax), String> {
    let attempt = |syntax: Syntax| {
        let mut engine = Engine::new();
        engine.set_rego_v0(syntax == Syntax::V0);
        engine
            .add_policy(MODULE_PATH.to_owned(), source.to_owned())
            .map(|_| engine)
            .map_err(|e| Diagnostic::of(&e))
    };
    let v1 = match attempt(Syntax::V1) {
        Ok(engine) => return Ok((engine, Syntax::V1)),
        Err(e) => e,
    };
    let v0 = match attempt(Syntax::V0) {
        Ok(engine) => return Ok((engine, Syntax::V0)),
        Err(e) => e,
    };
    let (dialect, error) = if v0.position > v1.position {
        ("v0", v0)
    } else {
        ("v1", v1)
    };
    Err(format!("syntax error (as Rego {dialect}){error}"))
}

/// A regorus error, on one line. regorus renders a located error as
/// `--> path:line:col`, the source line with a caret, then `error: text`;
/// this displays as ` at line L, column C: text (in `source`)`, or as
/// `: text` when the error has no location.
struct Diagnostic {
    /// `(line, column)`; `(0, 0)` when the error has no location.
    position: (u32, u32),
    source_line: Option<String>,
    text: String,
}

impl Diagnostic {
    /// Read a regorus (anyhow) error; `{:#}` includes its context chain.
    fn of(error: &impl std::fmt::Display) -> Diagnostic {
        let raw = format!("{error:#}");
        let marker = format!("--> {MODULE_PATH}:");
        let position = raw
            .find(&marker)
            .and_then(|at| raw.get(at + marker.len()..))
            .and_then(|rest| {
                let mut numbers = rest.splitn(3, |c: char| !c.is_ascii_digit());
                let line = numbers.next()?.parse().ok()?;
                let col = numbers.next()?.parse().ok()?;
                Some((line, col))
            });
        let Some(position) = position else {
            let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
            return Diagnostic {
                position: (0, 0),
                source_line: None,
                text,
            };
        };
        let prefix = format!("{} |", position.0);
        let source_line = raw
            .lines()
            .find_map(|l| l.trim_start().strip_prefix(&prefix))
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty());
        let text = raw
            .rfind("error: ")
            .and_then(|at| raw.get(at + "error: ".len()..))
            .unwrap_or(raw.as_str())
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Diagnostic {
            position,
            source_line,
            text,
        }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (line, col) = self.position;
        if line == 0 {
            return write!(f, ": {}", self.text);
        }
        write!(f, " at line {line}, column {col}: {}", self.text)?;
        if let Some(source) = &self.source_line {
            write!(f, " (in `{source}`)")?;
        }
        Ok(())
    }
}

/// policy-controller's reading of `isCompliant`.
fn interpret(result: &Value) -> Verdict {
    let not = |message: String| Verdict {
        compliant: false,
        messages: vec![message],
    };
    let items: Vec<&Value> = match result {
        Value::Bool(true) => {
            return Verdict {
                compliant: true,
                messages: Vec::new(),
            }
        }
        Value::Bool(false) => return not("isCompliant is false".to_owned()),
        Value::Undefined => return not("isCompliant is undefined".to_owned()),
        Value::Set(set) => set.iter().collect(),
        Value::Array(array) => array.iter().collect(),
        other => {
            return not(format!(
                "isCompliant is {}, not a boolean or a set of results",
                kind(other)
            ))
        }
    };
    let mut messages = Vec::new();
    for item in items {
        let Value::Object(object) = item else {
            return not(format!(
                "isCompliant holds {}, not a result object",
                kind(item)
            ));
        };
        let field = |key: &str| object.get(&Value::from(key));
        let text = |key: &str| match field(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.to_string())),
            Some(other) => Err(format!(
                "isCompliant result field `{key}` is {}, not a string",
                kind(other)
            )),
        };
        let (warning, error) = match (text("warning"), text("error")) {
            (Ok(w), Ok(e)) => (w, e),
            (Err(m), _) | (_, Err(m)) => return not(m),
        };
        match field("result") {
            Some(Value::Bool(true)) => {
                return Verdict {
                    compliant: true,
                    messages: warning.into_iter().collect(),
                }
            }
            None | Some(Value::Bool(false)) => {}
            Some(other) => {
                return not(format!(
                    "isCompliant result field `result` is {}, not a boolean",
                    kind(other)
                ))
            }
        }
        messages.extend(error);
        messages.extend(warning.map(|w| format!("warning: {w}")));
    }
    if messages.is_empty() {
        messages.push("isCompliant holds no compliant result".to_owned());
    }
    Verdict {
        compliant: false,
        messages,
    }
}

/// The strings of an `errors` value: a string, or a set or array of them
/// (other members are rendered as JSON).
fn strings(value: &Value) -> Vec<String> {
    let render = |v: &Value| match v {
        Value::String(s) => s.to_string(),
        other => other
            .to_json_str()
            .unwrap_or_else(|_| kind(other).to_owned()),
    };
    match value {
        Value::Undefined => Vec::new(),
        Value::Set(set) => set.iter().map(render).collect(),
        Value::Array(array) => array.iter().map(render).collect(),
        other => vec![render(other)],
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Set(_) => "a set",
        Value::Object(_) => "an object",
        Value::Undefined => "undefined",
    }
}

#[cfg(test)]
#[path = "rego_tests.rs"]
mod tests;
