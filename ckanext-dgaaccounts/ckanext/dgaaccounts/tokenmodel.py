"""Tables of the developer API key policy: rate tiers, who has which tier, daily usage.

Created by migration ``0008_token_usage``. CKAN's own ``api_token`` table keeps the tokens;
the expiry and reminder state of a token lives in its ``plugin_extras["dgaaccounts"]``.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Date, DateTime, ForeignKey, Integer, Text, Index
from sqlalchemy.dialects.postgresql import JSONB

from ckan.plugins import toolkit as tk

from .model import utcnow


class TokenTier(tk.BaseModel):
    """A named limit of API calls per hour for each token of the users given the tier."""

    __tablename__ = "dgaaccounts_token_tier"

    name = Column(Text, primary_key=True)
    hourly_limit = Column(Integer, nullable=False)
    description = Column(Text, nullable=False, default="")
    updated = Column(DateTime, nullable=False, default=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "hourly_limit": self.hourly_limit,
                "description": self.description, "updated": self.updated.isoformat()}


class UserTier(tk.BaseModel):
    """The tier a sysadmin gave a user (users without a row have the default tier)."""

    __tablename__ = "dgaaccounts_user_tier"

    user_id = Column(Text, ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    tier = Column(Text, ForeignKey("dgaaccounts_token_tier.name"), nullable=False)
    updated = Column(DateTime, nullable=False, default=utcnow)
    updated_by = Column(Text)


class TokenUsage(tk.BaseModel):
    """Calls of one token on one (UTC) day, rolled up from Redis by the housekeeping job."""

    __tablename__ = "dgaaccounts_token_usage"

    token_id = Column(Text, primary_key=True)  # CKAN's api_token.id (kept after a revocation)
    day = Column(Date, primary_key=True)
    user_id = Column(Text, nullable=False)
    token_name = Column(Text, nullable=False, default="")
    calls = Column(BigInteger, nullable=False, default=0)
    errors = Column(BigInteger, nullable=False, default=0)
    actions = Column(JSONB, nullable=False, default=dict)  # action -> calls
    last_used = Column(DateTime)

    __table_args__ = (
        Index("dgaaccounts_token_usage_user_day_idx", "user_id", "day"),
        Index("dgaaccounts_token_usage_day_idx", "day"),
    )

    def as_dict(self, top: int = 5) -> dict[str, Any]:
        ranked = sorted((self.actions or {}).items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return {
            "token_id": self.token_id, "token_name": self.token_name, "user_id": self.user_id,
            "day": self.day.isoformat(), "calls": self.calls, "errors": self.errors,
            "top_actions": [{"action": a, "calls": c} for a, c in ranked],
            "last_used": self.last_used.isoformat() if self.last_used else None,
        }
