//! `academy send`, `academy recv`, `academy listen`.

use std::time::Duration;

use academy_exchange::message::ActionRequest;
use academy_exchange::{Body, EntityId, Message, Role, UserId};
use academy_globus_client::{AcademyGlobusClient, ReconnectPolicy};
use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt as _;

use crate::cli::{ListenArgs, RecvArgs, SendArgs};
use crate::commands::mailbox::id_json;
use crate::context::Context;
use crate::error::{CliError, Result};
use crate::ids;

/// A message as a JSON value (its wire form).
pub fn message_json(msg: &Message) -> Value {
    serde_json::from_str(&msg.to_json()).unwrap_or(Value::Null)
}

/// A one-line human summary of a message.
fn message_text(msg: &Message) -> String {
    let body = msg.raw_body();
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or("?");
    let detail = match msg.body() {
        Ok(Body::ActionResponse(r)) => match r.value() {
            Ok(v) => format!("result {v}"),
            Err(e) => format!("error {e}"),
        },
        Ok(Body::ActionRequest(r)) => format!(
            "action {} args {} kwargs {}",
            r.action,
            r.args()
                .map(|a| Value::Array(a).to_string())
                .unwrap_or_default(),
            r.kwargs()
                .map(|k| Value::Object(k).to_string())
                .unwrap_or_default()
        ),
        _ => body.to_string(),
    };
    format!(
        "{} -> {}  {kind}  tag {}  {detail}",
        msg.src(),
        msg.dest(),
        msg.tag()
    )
}

/// Builds the request body from the command line.
///
/// ```
/// use academy_cli::commands::message::build_body;
/// let body = build_body(Some("echo"), r#"["hi"]"#).unwrap();
/// assert_eq!(body.kind(), "action-request");
/// assert!(build_body(None, r#"{"kind": "ping-request"}"#).is_ok());
/// assert!(build_body(None, "{not json").is_err());
/// assert!(build_body(None, r#"{"kind": "success-response"}"#).is_err());
/// ```
pub fn build_body(action: Option<&str>, text: &str) -> Result<Body> {
    let value: Value = serde_json::from_str(text.trim())
        .map_err(|e| CliError::BadInput(format!("invalid JSON body: {e}")))?;
    if let Some(action) = action {
        let (args, kwargs) = match &value {
            Value::Array(a) => (a.clone(), json!({})),
            Value::Object(o) if o.contains_key("args") || o.contains_key("kwargs") => {
                let args = match o.get("args") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(a)) => a.clone(),
                    Some(other) => {
                        return Err(CliError::BadInput(format!(
                            "\"args\" must be a JSON array, found {other}"
                        )));
                    }
                };
                let kwargs = match o.get("kwargs") {
                    None | Some(Value::Null) => json!({}),
                    Some(v @ Value::Object(_)) => v.clone(),
                    Some(other) => {
                        return Err(CliError::BadInput(format!(
                            "\"kwargs\" must be a JSON object, found {other}"
                        )));
                    }
                };
                (args, kwargs)
            }
            other => (vec![other.clone()], json!({})),
        };
        return Ok(Body::ActionRequest(ActionRequest::json(
            action, &args, &kwargs,
        )));
    }
    let body = Body::from_value(&value)
        .map_err(|e| CliError::BadInput(format!("invalid message body: {e}")))?;
    if !body.is_request() {
        return Err(CliError::BadInput(format!(
            "a {} body is a response; `academy send` sends requests",
            body.kind()
        )));
    }
    Ok(body)
}

async fn read_body(arg: Option<&str>, action: bool) -> Result<String> {
    match arg {
        Some(text) if text != "-" => Ok(text.to_string()),
        // An action without arguments needs no body.
        None if action => Ok("[]".into()),
        _ => {
            let mut text = String::new();
            tokio::io::stdin()
                .read_to_string(&mut text)
                .await
                .map_err(crate::error::io("cannot read the body from stdin"))?;
            Ok(text)
        }
    }
}

/// `academy send`.
pub async fn send(ctx: &Context, args: &SendArgs) -> Result<()> {
    // Validate the input before touching the network.
    let body = build_body(
        args.action.as_deref(),
        &read_body(args.body.as_deref(), args.action.is_some()).await?,
    )?;
    let client = ctx.exchange_client()?;
    let what = ctx.exchange_name();
    let to_role = args.to_user.then_some(Role::User);
    let to = ids::resolve(&client, &args.to, to_role, Some(Role::Agent), &what).await?;
    let (from, created) = match &args.from {
        Some(text) => (
            ids::resolve(&client, text, None, Some(Role::User), &what).await?,
            false,
        ),
        None => {
            let id: EntityId = UserId::new(Some("academy-cli".into())).into();
            client
                .register_client(&id)
                .await
                .map_err(|e| CliError::from_client(e, None, &what))?;
            (id, true)
        }
    };
    let msg = Message::request(from.clone(), to.clone(), body, None);
    client
        .send(&msg)
        .await
        .map_err(|e| CliError::from_client(e, Some(&args.to), &what))?;
    let mut v = json!({
        "sent": true,
        "tag": msg.tag().to_string(),
        "to": id_json(&to),
        "from": id_json(&from),
        "from_created": created,
    });
    let mut response_text = String::new();
    if let Some(secs) = args.wait {
        let response = wait_response(&client, &from, &msg, secs, &what).await?;
        response_text = format!("\n{}", message_text(&response));
        if let Some(obj) = v.as_object_mut() {
            if let Ok(Body::ActionResponse(r)) = response.body() {
                obj.insert(
                    "result".into(),
                    r.value()
                        .unwrap_or_else(|e| json!({ "error": e.to_string() })),
                );
            }
            obj.insert("response".into(), message_json(&response));
        }
    }
    ctx.out.emit(&v, || {
        let mut text = format!(
            "Sent {} to {} (tag {})",
            msg.body().map(|b| b.kind()).unwrap_or("?"),
            to.uid(),
            msg.tag()
        );
        if created {
            text.push_str(&format!("\nfrom new user mailbox {}", from.uid()));
        }
        text + &response_text
    });
    Ok(())
}

async fn wait_response(
    client: &AcademyGlobusClient,
    from: &EntityId,
    request: &Message,
    secs: f64,
    what: &str,
) -> Result<Message> {
    let deadline = tokio::time::Instant::now() + secs_duration(secs)?;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(CliError::Timeout(format!("no response within {secs} s")));
        }
        // Cap each long poll below the server's usual maximum (60 s).
        let poll = left.as_secs_f64().clamp(0.1, 30.0);
        match client.recv(from, Some(poll)).await {
            Ok(m) if m.tag() == request.tag() && m.is_response() => return Ok(m),
            Ok(other) => {
                tracing::info!(tag = %other.tag(), "ignoring an unrelated message");
            }
            Err(e) if e.http_status() == Some(408) => {}
            Err(e) => return Err(CliError::from_client(e, None, what)),
        }
    }
}

fn secs_duration(secs: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| CliError::BadInput(format!("invalid number of seconds: {secs}")))
}

/// `academy recv`.
pub async fn recv(ctx: &Context, args: &RecvArgs) -> Result<()> {
    if args.timeout.is_nan() || args.timeout <= 0.0 {
        return Err(CliError::BadInput("--timeout must be positive".into()));
    }
    let client = ctx.exchange_client()?;
    let what = ctx.exchange_name();
    let m = &args.mailbox;
    let id = ids::resolve(&client, &m.id, m.role.role(), None, &what).await?;
    let msg = client
        .recv(&id, Some(args.timeout))
        .await
        .map_err(|e| match e.http_status() {
            Some(408) => CliError::Timeout(format!("no message arrived within {} s", args.timeout)),
            _ => CliError::from_client(e, Some(&m.id), &what),
        })?;
    ctx.out.emit(&message_json(&msg), || message_text(&msg));
    Ok(())
}

/// `academy listen`: always one JSON line per message.
pub async fn listen(ctx: &Context, args: &ListenArgs) -> Result<()> {
    let idle = args.timeout.map(secs_duration).transpose()?;
    let client = ctx.exchange_client()?;
    let what = ctx.exchange_name();
    let m = &args.mailbox;
    let id = ids::resolve(&client, &m.id, m.role.role(), None, &what).await?;
    let mut stream = client.listen_reconnecting(id, None, ReconnectPolicy::default());
    let mut seen = 0usize;
    while args.count.is_none_or(|c| seen < c) {
        let next = match idle {
            Some(d) => tokio::time::timeout(d, stream.next())
                .await
                .map_err(|_| CliError::Timeout(format!("no message for {} s", d.as_secs_f64())))?,
            None => stream.next().await,
        };
        match next {
            Some(Ok(msg)) => {
                ctx.out.json(&message_json(&msg));
                seen += 1;
            }
            Some(Err(e)) if matches!(e, academy_globus_client::Error::InvalidResponse(_)) => {
                ctx.out
                    .note(format!("warning: skipped an unreadable message: {e}"));
            }
            Some(Err(e)) => return Err(CliError::from_client(e, Some(&m.id), &what)),
            None => break,
        }
    }
    Ok(())
}
