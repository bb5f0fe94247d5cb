//! `academy mailbox create|status|terminate|heartbeat|stats`,
//! `academy discover` and `academy share add|list|remove`.

use academy_exchange::{AgentId, AgentType, EntityId, MailboxStatus, Role, UserId};
use academy_globus_client::AcademyGlobusClient;
use serde_json::{Value, json};

use crate::cli::{CreateArgs, DiscoverArgs, MailboxArgs, MailboxCommand, ShareCommand};
use crate::context::Context;
use crate::error::{CliError, Result};
use crate::ids::{self, MailboxRef};
use crate::output::Colour;

/// Heartbeats older than this count as inactive (academy-py's default:
/// 3 missed 30 s heartbeats).
const STALE_AFTER_S: f64 = 90.0;

/// The JSON description of an id.
pub fn id_json(id: &EntityId) -> Value {
    json!({ "uid": id.uid().to_string(), "name": id.name(), "role": id.role().as_str() })
}

/// Runs a `mailbox` subcommand.
pub async fn run(ctx: &Context, cmd: &MailboxCommand) -> Result<()> {
    let client = ctx.exchange_client()?;
    match cmd {
        MailboxCommand::Create(args) => create(ctx, &client, args).await,
        MailboxCommand::Status(args) => status(ctx, &client, args).await,
        MailboxCommand::Terminate(args) => {
            let id = resolve(ctx, &client, args, None).await?;
            client
                .terminate(&id)
                .await
                .map_err(|e| CliError::from_client(e, Some(&args.id), &ctx.exchange_name()))?;
            ctx.out.emit(
                &json!({ "terminated": true, "mailbox": id_json(&id) }),
                || format!("{} {}", ctx.out.paint("Terminated", Colour::Red), id.uid()),
            );
            Ok(())
        }
        MailboxCommand::Heartbeat(args) => {
            let id = resolve(ctx, &client, args, None).await?;
            client
                .update_heartbeat(&id)
                .await
                .map_err(|e| CliError::from_client(e, Some(&args.id), &ctx.exchange_name()))?;
            ctx.out.emit(
                &json!({ "heartbeat": true, "mailbox": id_json(&id) }),
                || format!("Recorded a heartbeat for {}", id.uid()),
            );
            Ok(())
        }
        MailboxCommand::Stats(args) => {
            let id = resolve(ctx, &client, args, Some(Role::Agent)).await?;
            let stats = client
                .get_agent_stats(&id)
                .await
                .map_err(|e| CliError::from_client(e, Some(&args.id), &ctx.exchange_name()))?;
            let v =
                serde_json::to_value(stats).map_err(|e| CliError::Other(format!("stats: {e}")))?;
            ctx.out
                .emit(&json!({ "mailbox": id_json(&id), "stats": v }), || {
                    let pairs: Vec<(&str, String)> = v
                        .as_object()
                        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v.to_string())).collect())
                        .unwrap_or_default();
                    ctx.out.fields(&pairs)
                });
            Ok(())
        }
    }
}

async fn resolve(
    ctx: &Context,
    client: &AcademyGlobusClient,
    args: &MailboxArgs,
    default: Option<Role>,
) -> Result<EntityId> {
    ids::resolve(
        client,
        &args.id,
        args.role.role(),
        default,
        &ctx.exchange_name(),
    )
    .await
}

async fn create(ctx: &Context, client: &AcademyGlobusClient, args: &CreateArgs) -> Result<()> {
    let agent_type = args
        .agent_type
        .as_deref()
        .map(|mro| {
            AgentType::from_mro_string(mro)
                .map_err(|e| CliError::BadInput(format!("invalid --type {mro:?}: {e}")))
        })
        .transpose()?;
    let role = args.role.role().unwrap_or(if agent_type.is_some() {
        Role::Agent
    } else {
        Role::User
    });
    let id: EntityId = match args.id.as_deref().map(ids::parse).transpose()? {
        Some(MailboxRef::Full(id)) => id,
        Some(MailboxRef::Bare(uid)) => ids::with_role(uid, role),
        None => match role {
            Role::Agent => AgentId::new(args.name.clone()).into(),
            Role::User => UserId::new(args.name.clone()).into(),
        },
    };
    let shown = id.uid().to_string();
    let result = match (&id, &agent_type) {
        (EntityId::Agent(aid), Some(t)) => client.register_agent(aid, t.mro()).await,
        (EntityId::User(_), Some(_)) => {
            return Err(CliError::BadInput(
                "--type needs an agent id (--agent)".into(),
            ));
        }
        _ => client.register_client(&id).await,
    };
    result.map_err(|e| CliError::from_client(e, Some(&shown), &ctx.exchange_name()))?;
    let mut v = json!({ "created": true, "mailbox": id_json(&id), "id_json": id.to_json() });
    if let (Some(t), Some(obj)) = (&agent_type, v.as_object_mut()) {
        obj.insert("agent_type".into(), json!(t.mro()));
    }
    ctx.out.emit(&v, || {
        ctx.out.fields(&[
            ("created", ctx.out.paint(id.uid(), Colour::Cyan)),
            ("role", id.role().as_str().to_string()),
            ("id json", id.to_json()),
        ])
    });
    Ok(())
}

async fn status(ctx: &Context, client: &AcademyGlobusClient, args: &MailboxArgs) -> Result<()> {
    let id = match resolve(ctx, client, args, None).await {
        Ok(id) => id,
        Err(CliError::UnknownMailbox { .. }) => {
            // Report MISSING like the other states, then exit 3.
            ctx.out.emit(
                &json!({ "mailbox": args.id, "status": MailboxStatus::Missing }),
                || format!("{}  {}", args.id, ctx.out.paint("MISSING", Colour::Red)),
            );
            return Err(CliError::UnknownMailbox {
                mailbox: args.id.clone(),
            });
        }
        Err(e) => return Err(e),
    };
    let (status, age) = match client.get_heartbeat(&id).await {
        Ok(age) => (MailboxStatus::from_heartbeat_age(age, STALE_AFTER_S), age),
        Err(e) if e.http_status() == Some(404) => (MailboxStatus::Missing, None),
        Err(e) if e.http_status() == Some(419) => (MailboxStatus::Terminated, None),
        Err(e) => {
            return Err(CliError::from_client(
                e,
                Some(&args.id),
                &ctx.exchange_name(),
            ));
        }
    };
    let colour = match status {
        MailboxStatus::Active => Colour::Green,
        MailboxStatus::Inactive => Colour::Yellow,
        _ => Colour::Red,
    };
    let status_text = serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{status:?}"));
    ctx.out.emit(
        &json!({ "mailbox": id_json(&id), "status": status, "heartbeat_age_s": age }),
        || {
            ctx.out.fields(&[
                ("mailbox", id.uid().to_string()),
                ("role", id.role().as_str().to_string()),
                ("status", ctx.out.paint(&status_text, colour)),
                (
                    "heartbeat",
                    age.map_or_else(|| "never".into(), |a| format!("{a:.1}s ago")),
                ),
            ])
        },
    );
    match status {
        MailboxStatus::Missing => Err(CliError::UnknownMailbox {
            mailbox: args.id.clone(),
        }),
        MailboxStatus::Terminated => Err(CliError::Terminated {
            mailbox: args.id.clone(),
        }),
        _ => Ok(()),
    }
}

/// `academy discover`.
pub async fn discover(ctx: &Context, args: &DiscoverArgs) -> Result<()> {
    let client = ctx.exchange_client()?;
    let agents = client
        .discover(&args.agent_type, !args.no_subclasses)
        .await
        .map_err(|e| CliError::from_client(e, None, &ctx.exchange_name()))?;
    let list: Vec<String> = agents.iter().map(|a| a.uid().to_string()).collect();
    ctx.out.emit(
        &json!({ "agent_type": args.agent_type, "agents": list }),
        || {
            if list.is_empty() {
                format!("No agents of type {}", args.agent_type)
            } else {
                list.join("\n")
            }
        },
    );
    Ok(())
}

/// `academy share …`.
pub async fn share(ctx: &Context, cmd: &ShareCommand) -> Result<()> {
    let client = ctx.exchange_client()?;
    let err = |m: &MailboxArgs| {
        let text = m.id.clone();
        let what = ctx.exchange_name();
        move |e| CliError::from_client(e, Some(&text), &what)
    };
    match cmd {
        ShareCommand::Add { mailbox, group } => {
            let id = resolve(ctx, &client, mailbox, None).await?;
            client
                .share_mailbox(&id, group)
                .await
                .map_err(err(mailbox))?;
            ctx.out.emit(
                &json!({ "shared": true, "mailbox": id_json(&id), "group_id": group }),
                || format!("Shared {} with group {group}", id.uid()),
            );
        }
        ShareCommand::List { mailbox } => {
            let id = resolve(ctx, &client, mailbox, None).await?;
            let groups = client.get_shared_groups(&id).await.map_err(err(mailbox))?;
            ctx.out.emit(
                &json!({ "mailbox": id_json(&id), "group_ids": groups }),
                || {
                    if groups.is_empty() {
                        format!("{} is not shared with any group", id.uid())
                    } else {
                        groups.join("\n")
                    }
                },
            );
        }
        ShareCommand::Remove { mailbox, group } => {
            let id = resolve(ctx, &client, mailbox, None).await?;
            client
                .remove_shared_group(&id, group)
                .await
                .map_err(err(mailbox))?;
            ctx.out.emit(
                &json!({ "unshared": true, "mailbox": id_json(&id), "group_id": group }),
                || format!("Stopped sharing {} with group {group}", id.uid()),
            );
        }
    }
    Ok(())
}
