//! The boundary to the Lambda runtime: how a function's failure is reported (a stable
//! `errorType` and a message that carries every cause), and the tracing set-up every function
//! shares.

use lambda_runtime::{Diagnostic, LambdaEvent};
use std::fmt;
use std::future::Future;
use tracing::error;

use crate::error::report;
use crate::rotation::RotationError;
use crate::telemetry;

/// A function's failure as Lambda reports it. Its message never holds a secret: it is built
/// from domain errors, which name fields and versions, never values.
pub struct FunctionError {
    error_type: &'static str,
    message: String,
}

impl FunctionError {
    pub fn new(error_type: &'static str, error: &(dyn std::error::Error + 'static)) -> Self {
        Self {
            error_type,
            message: report(error),
        }
    }

    /// A failure described in words only (a summary of several causes).
    pub fn new_message(error_type: &'static str, message: String) -> Self {
        Self {
            error_type,
            message,
        }
    }

    pub fn error_type(&self) -> &'static str {
        self.error_type
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Logs the failure once, with its type, where the function gives up.
    pub fn logged(self) -> Self {
        error!(error_type = self.error_type, "{}", self.message);
        self
    }
}

impl From<RotationError> for FunctionError {
    fn from(e: RotationError) -> Self {
        Self::new(e.error_type(), &e)
    }
}

impl From<FunctionError> for Diagnostic {
    fn from(e: FunctionError) -> Self {
        Diagnostic {
            error_type: e.error_type.to_string(),
            error_message: e.message,
        }
    }
}

impl fmt::Debug for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FunctionError {}

/// A function's cold start: tracing, then the AWS SDK configuration every client is built from
/// (region, credentials and `AWS_ENDPOINT_URL*` from the environment), with an HTTPS client that
/// reads the platform's CA bundle once instead of scanning its certificate directory
/// ([`crate::aws::https`]).
pub async fn init() -> aws_config::SdkConfig {
    init_tracing();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(client) = crate::aws::https::https_client() {
        loader = loader.http_client(client);
    }
    loader.load().await
}

/// The runtime loop every function runs: each invocation is handled as itself
/// ([`telemetry::within`]: its metrics carry its request id; the runtime's span gives the log
/// lines theirs), and its result is sent back as JSON.
pub async fn serve<H, Fut, R>(handler: H) -> Result<(), lambda_runtime::Error>
where
    H: Fn(LambdaEvent<serde_json::Value>) -> Fut,
    Fut: Future<Output = Result<R, FunctionError>>,
    R: serde::Serialize,
{
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: LambdaEvent<serde_json::Value>| {
            let invocation = telemetry::Invocation {
                request_id: event.context.request_id.clone(),
                trace_id: event.context.xray_trace_id.clone(),
                deadline_ms: Some(event.context.deadline).filter(|d| *d > 0),
            };
            // Boxed: one allocation per invocation keeps the runtime's future type shallow.
            Box::pin(telemetry::within(invocation, handler(event)))
        },
    ))
    .await
}

/// Tracing as Lambda's advanced logging controls ask: JSON lines when `AWS_LAMBDA_LOG_FORMAT` is
/// `JSON` (what the template sets), at `AWS_LAMBDA_LOG_LEVEL` (else `RUST_LOG`, a plain level such
/// as `debug`; default `info`), without timestamps (CloudWatch adds them). Every line inside an
/// invocation carries the runtime's span: `requestId` and, when traced, `xrayTraceId` (in JSON
/// under `span`, in text before the message).
pub fn init_tracing() {
    use tracing_subscriber::filter::LevelFilter;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .without_time();
    // A second initialisation (tests) keeps the first subscriber.
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// Every input of one invocation (the records of an SNS batch, a manual request), each handled
/// whatever happened to the others: the outcomes, and each failure with the input's label.
pub async fn each_input<I, O, E>(
    inputs: Vec<I>,
    mut handle: impl AsyncFnMut(I) -> (String, Result<O, E>),
) -> (Vec<O>, Vec<(String, E)>) {
    let (mut outcomes, mut failures) = (Vec::new(), Vec::new());
    for input in inputs {
        match handle(input).await {
            (_, Ok(outcome)) => outcomes.push(outcome),
            (label, Err(e)) => failures.push((label, e)),
        }
    }
    (outcomes, failures)
}

/// A batch handler's answer: `{"outcomes": [...]}` when every input succeeded, else the batch
/// failure ([`batch_failure`]), so the delivery is retried.
pub fn batch_answer<O: serde::Serialize, E: std::error::Error + 'static>(
    error_type: &'static str,
    outcomes: &[O],
    failures: &[(String, E)],
) -> Result<serde_json::Value, FunctionError> {
    match batch_failure(error_type, outcomes.len(), failures) {
        Some(error) => Err(error),
        None => Ok(serde_json::json!({ "outcomes": outcomes })),
    }
}

/// The error of a batch (SNS records, several inputs) of which some failed: it names how many and
/// the first, after all inputs were tried. `None` when none failed.
pub fn batch_failure<E: std::error::Error + 'static>(
    error_type: &'static str,
    succeeded: usize,
    failures: &[(String, E)],
) -> Option<FunctionError> {
    let (label, first) = failures.first()?;
    let message = format!(
        "{} of {} inputs failed; the first ({label}): {}",
        failures.len(),
        failures.len() + succeeded,
        report(first)
    );
    Some(FunctionError::new_message(error_type, message).logged())
}

/// The handler every rotation function shares: the payload becomes a domain request, the
/// rotator runs it, and a failure is logged once and reported with its type.
pub async fn handle_rotation<S, B, C, N>(
    rotator: &crate::rotation::Rotator<S, B, C, N>,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, FunctionError>
where
    S: crate::rotation::SecretStore,
    B: crate::rotation::CredentialBackend,
    C: crate::consumers::ConsumerReader,
    N: crate::notify::Notifier,
{
    let report = rotator
        .handle_value(&event.payload)
        .await
        .map_err(|e| FunctionError::from(e).logged())?;
    serde_json::to_value(&report).map_err(|e| FunctionError::new("InternalError", &e).logged())
}
