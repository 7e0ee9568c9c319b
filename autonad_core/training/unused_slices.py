"""Keep the unused slices of shared supernet weights where they are during an optimiser step.

Why: each step trains one sampled subnet, which reads leading slices of the shared weights
(``W[:c_out, :c_in]``, centred kernel windows, the first heads). The rest of a weight gets a gradient
of exactly zero, yet AdamW still moves it: weight decay shrinks it, and the running first moment from
earlier steps keeps pushing it. Over thousands of steps a slice that the next subnet needs has drifted
away from anything it was trained for. Parameters that no subnet used this step have no gradient at all
(``zero_grad(set_to_none=True)``) and are already skipped by the optimiser; this handles the slices.

Rule: an entry whose gradient is exactly zero this step keeps its value and its optimiser state
(moment estimates); every other entry is updated as usual. An entry that was used but happens to get
an exact zero gradient is held for that step, which is what zero gradient asks for anyway.
"""

from __future__ import annotations

import torch


class UnusedSliceGuard:
    """Wraps ``optimizer.step`` (or ``scaler.step(optimizer)``) so zero-gradient entries stay put."""

    def __init__(self, optimizer: torch.optim.Optimizer, enabled: bool = True) -> None:
        self.optimizer = optimizer
        self.enabled = enabled

    def _snapshot(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]]:
        saved = []
        for group in self.optimizer.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                unused = param.grad == 0
                if not bool(unused.any()):
                    continue
                state = self.optimizer.state.get(param, {})
                moments = {
                    key: value[unused].clone()
                    for key, value in state.items()
                    if torch.is_tensor(value) and value.shape == param.shape
                }
                saved.append((param, unused, param.detach()[unused].clone(), moments))
        return saved

    @torch.no_grad()
    def step(self, scaler: torch.amp.GradScaler | None = None) -> None:
        """One optimiser step (through ``scaler`` when given); zero-gradient entries are restored."""
        saved = self._snapshot() if self.enabled else []
        if scaler is not None:
            scaler.step(self.optimizer)
        else:
            self.optimizer.step()
        for param, unused, values, moments in saved:
            param[unused] = values
            state = self.optimizer.state.get(param, {})
            for key, value in moments.items():
                if key in state:
                    state[key][unused] = value
