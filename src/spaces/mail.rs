//! The invitation mail, queued in the same transaction as the invitation.

use chrono::{DateTime, Utc};

use super::{Invitation, Space};
use crate::audit::ClientInfo;
use crate::config::Config;
use crate::db::Tx;
use crate::email::{self, templates};
use crate::error::Result;
use crate::ids::{SpaceId, UserId};
use crate::users::store;

/// Queues the mail that tells the invitee about `invitation` (nothing when
/// the address's hourly mail cap is reached; the invitation stands).
pub fn queue_invitation(
    tx: &Tx,
    config: &Config,
    space: &Space,
    invitation: &Invitation,
    inviter_id: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<()> {
    if !email::take_quota(tx, &invitation.email, now)? {
        return Ok(());
    }
    let inviter = store::by_id(tx, inviter_id)?
        .map(|u| if u.name.is_empty() { u.email } else { u.name })
        .unwrap_or_default();
    let link = format!("{}/accept-invitation/{}", config.app_url(), invitation.id);
    // The invitee's own locale if they have an account, else the inviter's.
    let invitee = store::with_password_by_email(tx, &invitation.email)?.map(|(u, _)| u.id);
    let lang = email::lang_for(tx, invitee.as_deref(), client.accept_language.as_deref())?;
    let mail = templates::invitation(
        lang,
        &config.mail_product_name,
        &inviter,
        &space.name,
        invitation.role.as_str(),
        &link,
    );
    email::enqueue(tx, config, "invitation", None, &invitation.email, mail, now)?;
    Ok(())
}

/// Invites (see `spaces::invite`) and queues the invitation mail, in the
/// caller's transaction: what both the v1 and the Better Auth door do.
#[allow(clippy::too_many_arguments)]
pub fn invite_and_mail(
    tx: &Tx,
    config: &Config,
    space_id: &SpaceId,
    actor: &UserId,
    email: &str,
    role: super::Role,
    if_pending: super::IfPending,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<Invitation> {
    let (space, invitation) = super::invite(tx, space_id, actor, email, role, if_pending, now)?;
    queue_invitation(tx, config, &space, &invitation, actor, client, now)?;
    Ok(invitation)
}
