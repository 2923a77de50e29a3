"""The one axis of variation: what deploy renders, what switch does and what undo means, per strategy."""

from __future__ import annotations

from pipeline_steps.context import ReleaseContext
from pipeline_steps.strategies.base import Strategy
from pipeline_steps.strategies.bluegreen import BlueGreen
from pipeline_steps.strategies.rolling import Rolling


def strategy_for(ctx: ReleaseContext) -> Strategy:
    return BlueGreen(ctx) if ctx.config.strategy == "bluegreen" else Rolling(ctx)
