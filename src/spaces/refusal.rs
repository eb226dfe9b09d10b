//! Why a space rule said no. Every membership, invitation and role rule in
//! `spaces` refuses with one of these; the refusal travels as the cause of
//! the `ApiError` it becomes (`From<SpaceRefusal> for ApiError` is the
//! envelope's table: `/api/v1`, the admin API and the CLI answer with it),
//! and a door with its own wire codes reads it back with `refusal_of` and
//! maps it with its own table (the Better Auth organization adapter).
//! Doors never match on message text.

use super::Role;
use crate::error::{ApiError, ErrorCode};

/// A space rule's refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpaceRefusal {
    /// No space with this id.
    SpaceNotFound,
    /// The space exists; the caller is not a member.
    NotMember,
    /// The caller's role is below the one the action needs.
    RoleTooLow(Role),
    /// An admin tried to invite an owner.
    OnlyOwnersInviteOwners,
    /// A personal space takes no invitations.
    PersonalNotShared,
    /// The inviter's address is not proven.
    InviterUnverified,
    /// The invited address belongs to a member already.
    AlreadyMember,
    /// The address has a pending invitation and the caller did not ask to
    /// send it again.
    AlreadyInvited,
    /// An admin tried to rewrite a pending invitation for an owner.
    PendingOwnerInvitation,
    /// The space has `MAX_PENDING_INVITATIONS` open invitations.
    TooManyPending,
    /// No invitation with this id (or not in the space named).
    InvitationNotFound,
    /// Canceling: the caller is not a member of the invitation's space.
    NotMemberOfInvitationSpace,
    /// The invitation is addressed to someone else.
    NotRecipient,
    /// The addressee's address is not proven: listing their invitations.
    UnverifiedToList,
    /// The same, reading one invitation.
    UnverifiedToSee,
    /// The same, accepting or declining.
    UnverifiedToAnswer,
    /// The invitation was already answered or withdrawn (its status).
    NotPending(String),
    /// The invitation's time is up.
    Expired,
    /// No such member in the space.
    MemberNotFound,
    /// The caller's role cannot remove this member.
    CannotRemove,
    /// Removing (or the leaving of) the last owner.
    LastOwnerRemoved,
    /// Demoting the last owner.
    LastOwnerDemoted,
    /// A personal space is never deleted.
    PersonalUndeletable,
}

impl std::fmt::Display for SpaceRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "space refusal: {self:?}")
    }
}

impl std::error::Error for SpaceRefusal {}

/// The refusal an error carries, if a space rule made it.
pub fn refusal_of(e: &ApiError) -> Option<&SpaceRefusal> {
    e.source.as_ref()?.downcast_ref::<SpaceRefusal>()
}

impl From<SpaceRefusal> for ApiError {
    /// The envelope's table: code and message of each refusal.
    fn from(refusal: SpaceRefusal) -> Self {
        use SpaceRefusal::*;
        let (code, message) = match &refusal {
            SpaceNotFound | NotMember => (ErrorCode::NotFound, "space not found".to_owned()),
            RoleTooLow(role) => (
                ErrorCode::Forbidden,
                format!("this needs the {} role in the space", role.as_str()),
            ),
            OnlyOwnersInviteOwners => (
                ErrorCode::Forbidden,
                "only owners can invite owners".to_owned(),
            ),
            PersonalNotShared => (
                ErrorCode::Forbidden,
                "a personal space cannot be shared".to_owned(),
            ),
            InviterUnverified => (
                ErrorCode::EmailNotVerified,
                "verify your email address before inviting anyone".to_owned(),
            ),
            AlreadyMember => (
                ErrorCode::Conflict,
                "this address is already a member".to_owned(),
            ),
            AlreadyInvited => (
                ErrorCode::Conflict,
                "this address is already invited".to_owned(),
            ),
            PendingOwnerInvitation => (
                ErrorCode::Forbidden,
                "only owners can change a pending owner invitation".to_owned(),
            ),
            TooManyPending => (
                ErrorCode::Validation,
                format!(
                    "this space has {} open invitations; \
                     wait for answers or withdraw some first",
                    super::MAX_PENDING_INVITATIONS
                ),
            ),
            InvitationNotFound | NotMemberOfInvitationSpace => {
                (ErrorCode::NotFound, "invitation not found".to_owned())
            }
            NotRecipient => (
                ErrorCode::Forbidden,
                "this invitation is for another address".to_owned(),
            ),
            UnverifiedToList => (
                ErrorCode::EmailNotVerified,
                "verify your email address to see your invitations".to_owned(),
            ),
            UnverifiedToSee => (
                ErrorCode::EmailNotVerified,
                "verify your email address to see this invitation".to_owned(),
            ),
            UnverifiedToAnswer => (
                ErrorCode::EmailNotVerified,
                "verify your email address to answer this invitation".to_owned(),
            ),
            NotPending(status) => (
                ErrorCode::InvitationNotPending,
                format!("this invitation is already {status}"),
            ),
            Expired => (
                ErrorCode::InvitationExpired,
                "this invitation has expired".to_owned(),
            ),
            MemberNotFound => (ErrorCode::NotFound, "member not found".to_owned()),
            CannotRemove => (
                ErrorCode::Forbidden,
                "your role cannot remove this member".to_owned(),
            ),
            LastOwnerRemoved => (
                ErrorCode::SpaceLastOwner,
                "the last owner cannot be removed".to_owned(),
            ),
            LastOwnerDemoted => (
                ErrorCode::SpaceLastOwner,
                "the last owner cannot be demoted".to_owned(),
            ),
            PersonalUndeletable => (
                ErrorCode::SpacePersonalUndeletable,
                "a personal space cannot be deleted".to_owned(),
            ),
        };
        ApiError::new(code, message).with_source(refusal)
    }
}
