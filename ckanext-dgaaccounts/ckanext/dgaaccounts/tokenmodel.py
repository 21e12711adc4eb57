"""Tables of the developer API key policy: rate tiers, who has which tier, daily usage.

Created by migration ``0008_token_usage``. CKAN's own ``api_token`` table keeps the tokens;
the expiry and reminder state of a token lives in its ``plugin_extras["dgaaccounts"]``.
"""
from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Integer, Text, Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped

from .model import BaseModel, mapped_column, utcnow


class TokenTier(BaseModel):
    """A named limit of API calls per hour for each token of the users given the tier."""

    __tablename__ = "dgaaccounts_token_tier"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    hourly_limit: Mapped[int] = mapped_column(Integer, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    updated: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "hourly_limit": self.hourly_limit,
                "description": self.description, "updated": self.updated.isoformat()}


class UserTier(BaseModel):
    """The tier a sysadmin gave a user (users without a row have the default tier)."""

    __tablename__ = "dgaaccounts_user_tier"

    user_id: Mapped[str] = mapped_column(
        Text, ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    tier: Mapped[str] = mapped_column(
        Text, ForeignKey("dgaaccounts_token_tier.name"), nullable=False)
    updated: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(Text)


class TokenUsage(BaseModel):
    """Calls of one token on one (UTC) day, rolled up from Redis by the housekeeping job."""

    __tablename__ = "dgaaccounts_token_usage"

    # CKAN's api_token.id (kept after a revocation)
    token_id: Mapped[str] = mapped_column(Text, primary_key=True)
    day: Mapped[datetime.date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[str] = mapped_column(Text, nullable=False)
    token_name: Mapped[str] = mapped_column(Text, nullable=False, default="")
    calls: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # action -> calls
    actions: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    last_used: Mapped[datetime.datetime | None] = mapped_column(DateTime)

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
