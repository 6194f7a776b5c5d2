"""Classic mistakes of chapter 7 (Genie), each caught by the graded suite (see __init__.py).

Written from each step's contract before the checks that catch them."""

from __future__ import annotations

from . import Mutation

ST, TOK, LAM, DYN = "st_transformer.py", "tokenizer.py", "latent_actions.py", "dynamics.py"
SPATIAL = "return attn(x.reshape(B * T, N, E)).reshape(B, T, N, E)"
SEQ = "seq = x.transpose(1, 2).reshape(B * N, T, E)"
TEMPORAL = "return attn(seq, causal=True).reshape(B, N, T, E).transpose(1, 2)"
S_LINE = "x = x + spatial_attention(self.ln_s(x), self.spatial)"
T_LINE = "x = x + temporal_attention(self.ln_t(x), self.temporal)"
PATCH = "return x.permute(0, 1, 2, 4, 3, 5, 6).reshape(B, T, (H // patch) * (W // patch), patch * patch * C)"
UNPATCH = "x = patches.reshape(B, T, h, w, patch, patch, C).permute(0, 1, 2, 4, 3, 5, 6)"
VQLOSS = "loss = (z.detach() - codes).pow(2).mean() + beta * (z - codes.detach()).pow(2).mean()"
DIST = "dist = flat.pow(2).sum(-1, keepdim=True) + codebook.pow(2).sum(-1) - 2 * flat @ codebook.t()"
PICK = "pick = torch.multinomial(weight, len(dead), replacement=True, generator=generator)"
ENC = "return self.to_action(h[:, 1:].mean(2))"
DEC = "x = self.dec_in(self.pixels(frames[:, :-1])) + self.action_in(actions)[:, :, None]"
SOFT = "p = (-dist / temperature).softmax(-1)"
INFO = "information = entropy(p.mean(0)) - entropy(p).mean()"
RATE = "rate = mask_min + (1 - mask_min) * torch.rand(batch, 1, 1, generator=generator)"
DRAW = "mask = torch.rand(batch, frames, tokens, generator=generator) < rate"
EMBED = "x = self.token_embed(tokens.masked_fill(mask, self.mask_id))"
ACT = "act = self.action_in(actions.detach())"
PAD = "x = x + F.pad(act, (0, 0, 1, 0))[:, :, None]"
CE = "picked, true = logits[mask], targets[mask]"
SCHED = "return int(math.floor(n * math.cos(math.pi / 2 * (step + 1) / steps)))"
CONF = "        confidence = confidence.masked_fill(~masked, float(\"inf\"))  # kept tokens are never re-masked"
REMASK = "masked = torch.zeros_like(masked).scatter_(1, confidence.argsort(-1)[:, :masked_after(k, steps, N)], True)"
TEMP = "probs = (logits / temperature).softmax(-1)  # (B, N, V)"

MUTATIONS: list[Mutation] = [
    # 7.1 spatial attention
    Mutation(id="spatial-mixes-frames", step="7.1", file=ST, find=SPATIAL,
             replace="return attn(x.reshape(B, T * N, E)).reshape(B, T, N, E)",
             why="one sequence of all T*N tokens: every token attends to every frame, the cost the ST block avoids"),
    Mutation(id="spatial-groups-by-position", step="7.1", file=ST, find=SPATIAL,
             replace="return attn(x.reshape(B * N, T, E)).reshape(B, T, N, E)",
             why="a reshape to (B N, T, E) without a transpose cuts the memory into the wrong groups"),
    Mutation(id="spatial-causal", step="7.1", file=ST, find=SPATIAL,
             replace="return attn(x.reshape(B * T, N, E), causal=True).reshape(B, T, N, E)",
             why="patches have no order in time: a causal mask in space hides half of the frame from each patch"),
    # 7.2 temporal attention
    Mutation(id="temporal-not-causal", step="7.2", file=ST, find=TEMPORAL,
             replace="return attn(seq).reshape(B, N, T, E).transpose(1, 2)",
             why="without the causal mask frame t sees frames t+1..T: the model reads the future it must predict"),
    Mutation(id="temporal-no-transpose", step="7.2", file=ST, find=SEQ, replace="seq = x.reshape(B * N, T, E)",
             why="(B, T, N, E) reshaped to (B N, T, E) without moving N next to B mixes positions and frames"),
    Mutation(id="temporal-over-all-tokens", step="7.2", file=ST, find=TEMPORAL,
             replace="return attn(x.reshape(B, T * N, E), causal=True).reshape(B, T, N, E)",
             why="causal attention over the flattened video: a token sees other positions of its own and past frames"),
    Mutation(id="temporal-wrong-unflatten", step="7.2", file=ST, find=TEMPORAL,
             replace="return attn(seq, causal=True).reshape(B, T, N, E)",
             why="the output is (B N, T, E): it must be unflattened to (B, N, T, E) and transposed back"),
    # 7.3 the ST block
    Mutation(id="block-no-spatial-residual", step="7.3", file=ST, find=S_LINE,
             replace="x = spatial_attention(self.ln_s(x), self.spatial)",
             why="each sub-layer adds to the stream; replacing x loses the input"),
    Mutation(id="block-temporal-first", step="7.3", file=ST, find=S_LINE + "\n        " + T_LINE,
             replace=T_LINE + "\n        " + S_LINE,
             why="the paper's order is spatial, then temporal attention, then the feed-forward layer"),
    Mutation(id="block-post-ln", step="7.3", file=ST, find=S_LINE,
             replace="x = self.ln_s(x + spatial_attention(x, self.spatial))",
             why="pre-LN normalises the sub-layer's input, not the sum"),
    Mutation(id="block-no-ffw-norm", step="7.3", file=ST, find="return x + self.ffw(self.ln_f(x))",
             replace="return x + self.ffw(x)", why="the feed-forward layer reads the normalised stream too"),
    # 7.4 patches
    Mutation(id="patchify-no-permute", step="7.4", file=TOK, find=PATCH,
             replace="return x.reshape(B, T, (H // patch) * (W // patch), patch * patch * C)",
             why="a plain reshape cuts the frame into strips of pixel rows, not P x P squares"),
    Mutation(id="patchify-column-major", step="7.4", file=TOK, find=PATCH,
             replace="return x.permute(0, 1, 4, 2, 3, 5, 6)"
                     ".reshape(B, T, (H // patch) * (W // patch), patch * patch * C)",
             why="patches are numbered row by row: the patch order moved to column by column"),
    Mutation(id="patchify-channels-first", step="7.4", file=TOK, find=PATCH,
             replace="return x.permute(0, 1, 2, 4, 6, 3, 5)"
                     ".reshape(B, T, (H // patch) * (W // patch), patch * patch * C)",
             why="a patch is flattened as (P, P, C), channels last, as the frames are stored"),
    Mutation(id="unpatchify-no-permute", step="7.4", file=TOK, find=UNPATCH,
             replace="x = patches.reshape(B, T, h, w, patch, patch, C)",
             why="the inverse needs the inverse permutation, or the patches come back scrambled"),
    # 7.5 vector quantisation
    Mutation(id="vq-argmax", step="7.5", file=TOK, find="tokens = dist.argmin(-1)", replace="tokens = dist.argmax(-1)",
             why="the nearest code has the smallest distance"),
    Mutation(id="vq-dot-product", step="7.5", file=TOK, find=DIST,
             replace="dist = flat.pow(2).sum(-1, keepdim=True) - 2 * flat @ codebook.t()",
             why="without the squared norm of each code the lookup picks the largest dot product"),
    Mutation(id="vq-no-straight-through", step="7.5", file=TOK, find="return z + (codes - z).detach(), tokens, loss",
             replace="return codes, tokens, loss", why="decoding the codes as they are gives the encoder no gradient"),
    Mutation(id="vq-stop-gradients-swapped", step="7.5", file=TOK, find=VQLOSS,
             replace="loss = (z - codes.detach()).pow(2).mean() + beta * (z.detach() - codes).pow(2).mean()",
             why="the codebook term moves the codes (sg on z), the commitment term z (sg on the codes)"),
    Mutation(id="vq-beta-on-codebook", step="7.5", file=TOK, find=VQLOSS,
             replace="loss = beta * (z.detach() - codes).pow(2).mean() + (z - codes.detach()).pow(2).mean()",
             why="beta weighs the commitment of the encoder, not the codebook's update"),
    # 7.6 dead codes
    Mutation(id="restart-live-codes", step="7.6", file=TOK, find="dead = (counts == 0)", replace="dead = (counts > 0)",
             why="the dead codes are the unused ones"),
    Mutation(id="restart-not-in-place", step="7.6", file=TOK, find="codebook[dead] = z[pick].to(codebook.dtype)",
             replace="codebook = codebook.clone()\n    codebook[dead] = z[pick].to(codebook.dtype)",
             why="the caller keeps the codebook it passed in: a copy changed here is lost"),
    Mutation(id="restart-random-noise", step="7.6", file=TOK, find="codebook[dead] = z[pick].to(codebook.dtype)",
             replace="codebook[dead] = torch.randn(len(dead), codebook.shape[1], generator=generator)",
             why="noise lands where no encoder output is, and the code stays dead"),
    Mutation(id="restart-uniform-draw", step="7.6", file=TOK, find=PICK,
             replace="pick = torch.randint(len(z), (len(dead),), generator=generator)",
             why="a uniform draw lands most restarted codes where live codes already fit (the background)"),
    Mutation(id="restart-weights-not-squared", step="7.6", file=TOK,
             find="weight = torch.cdist(z, live).pow(2).min(-1).values",
             replace="weight = torch.cdist(z, live).min(-1).values",
             why="k-means++ weighs by the squared distance"),
    Mutation(id="restart-ignores-generator", step="7.6", file=TOK, find=PICK,
             replace="pick = torch.multinomial(weight, len(dead), replacement=True)",
             why="without the run's generator a seeded run does not restart the same way twice"),
    # 7.7 LAM encoder
    Mutation(id="lam-action-off-by-one", step="7.7", file=LAM, find=ENC,
             replace="return self.to_action(h[:, :-1].mean(2))",
             why="the output at frame t has seen x_1..x_t only: an action read there knows nothing of x_{t+1}"),
    Mutation(id="lam-action-last-frame-only", step="7.7", file=LAM, find=ENC,
             replace="return self.to_action(h[:, -1:].mean(2))",
             why="one action per step t = 1..T-1, not one per clip"),
    Mutation(id="lam-action-first-frame", step="7.7", file=LAM, find=ENC,
             replace="return self.to_action(h[:, :1].mean(2)).expand(-1, h.shape[1] - 1, -1)",
             why="the output at frame 1 has seen nothing of any later frame"),
    # 7.8 LAM decoder
    Mutation(id="lam-decoder-sees-target", step="7.8", file=LAM, find=DEC,
             replace="x = self.dec_in(self.pixels(frames[:, 1:])) + self.action_in(actions)[:, :, None]",
             why="the decoder reading x_{t+1} can copy it: the action then carries nothing"),
    Mutation(id="lam-decoder-no-action", step="7.8", file=LAM, find=DEC,
             replace="x = self.dec_in(self.pixels(frames[:, :-1]))",
             why="without the action the decoder can only predict the average next frame"),
    Mutation(id="lam-decoder-action-late", step="7.8", file=LAM, find=DEC,
             replace="x = self.dec_in(self.pixels(frames[:, :-1])) + self.action_in(actions).roll(1, 1)[:, :, None]",
             why="action t explains frame t -> t+1: added at frame t+1 it arrives one step late"),
    Mutation(id="lam-decoder-all-frames", step="7.8", file=LAM, find=DEC,
             replace="x = self.dec_in(self.pixels(frames[:, 1:] * 0 + frames[:, -1:]))"
                     " + self.action_in(actions)[:, :, None]",
             why="every prediction made from the last frame of the clip: the target itself for the last step"),
    # 7.9 the information loss
    Mutation(id="info-no-sample-entropy", step="7.9", file=LAM, find=INFO,
             replace="information = entropy(p.mean(0))",
             why="without the actions' own entropies, actions sitting between all codes pass for even use"),
    Mutation(id="info-sign-flipped", step="7.9", file=LAM, find=INFO,
             replace="information = entropy(p).mean() - entropy(p.mean(0))",
             why="minimising log A + I rewards codes that tell nothing"),
    Mutation(id="info-softmax-over-batch", step="7.9", file=LAM, find=SOFT,
             replace="p = (-dist / temperature).softmax(0)",
             why="each action's assignment is a distribution over the codes, not over the batch"),
    Mutation(id="info-far-codes", step="7.9", file=LAM, find=SOFT,
             replace="p = (dist / temperature).softmax(-1)",
             why="a soft assignment favours the nearest code: the softmax of minus the distance"),
    Mutation(id="info-no-temperature", step="7.9", file=LAM, find=SOFT,
             replace="p = (-dist).softmax(-1)", why="the temperature scales the distances"),
    # 7.10 the mask
    Mutation(id="mask-rate-fixed", step="7.10", file=DYN, find=RATE,
             replace="rate = torch.full((batch, 1, 1), mask_min)",
             why="the rate is drawn from U(0.5, 1) for every clip, not fixed at 0.5"),
    Mutation(id="mask-rate-per-batch", step="7.10", file=DYN, find=RATE,
             replace="rate = mask_min + (1 - mask_min) * torch.rand(1, 1, 1, generator=generator)",
             why="one rate for the whole batch: every update sees one masking level only"),
    Mutation(id="mask-first-frame", step="7.10", file=DYN, find="    mask[:, 0] = False\n", replace="",
             why="the first frame is the prompt: it is given at generation time, so it is never masked"),
    Mutation(id="mask-inverted", step="7.10", file=DYN, find=DRAW,
             replace="mask = torch.rand(batch, frames, tokens, generator=generator) > rate",
             why="> rate masks with probability 1 - r, between 0 and 0.5"),
    Mutation(id="mask-ignores-generator", step="7.10", file=DYN, find=DRAW,
             replace="mask = torch.rand(batch, frames, tokens) < rate",
             why="the masks must come from the generator given, for reproducible runs"),
    # 7.11 dynamics forward
    Mutation(id="dyn-action-off-by-one", step="7.11", file=DYN, find=PAD,
             replace="x = x + F.pad(act, (0, 0, 0, 1))[:, :, None]",
             why="action t explains frame t -> t+1: added to frame t, frame t's own prediction sees it"),
    Mutation(id="dyn-action-not-detached", step="7.11", file=DYN, find=ACT, replace="act = self.action_in(actions)",
             why="the latent actions enter with a stop-gradient: the dynamics must not train the LAM"),
    Mutation(id="dyn-mask-in-place", step="7.11", file=DYN, find=EMBED,
             replace="x = self.token_embed(tokens.masked_fill_(mask, self.mask_id))",
             why="masking the caller's tokens in place overwrites the targets before the loss takes them"),
    Mutation(id="dyn-mask-ignored", step="7.11", file=DYN, find=EMBED, replace="x = self.token_embed(tokens)",
             why="the model then reads the very tokens it must predict"),
    Mutation(id="dyn-mask-as-token-zero", step="7.11", file=DYN, find=EMBED,
             replace="x = self.token_embed(tokens.masked_fill(mask, 0))",
             why="code 0 is a real token: a masked position must look different from any real token"),
    # 7.12 the loss
    Mutation(id="loss-on-all-tokens", step="7.12", file=DYN, find=CE,
             replace="picked, true = logits.flatten(0, 2), targets.flatten()",
             why="visible tokens are copied from the input: scoring them rewards copying"),
    Mutation(id="loss-on-unmasked-tokens", step="7.12", file=DYN, find=CE,
             replace="picked, true = logits[~mask], targets[~mask]", why="the mask's complement, the visible tokens"),
    Mutation(id="loss-summed", step="7.12", file=DYN, find="return F.cross_entropy(picked, true), ",
             replace="return F.cross_entropy(picked, true, reduction=\"sum\"), ",
             why="a sum scales with the number of masked tokens, which the random rate changes every update"),
    Mutation(id="accuracy-on-all-tokens", step="7.12", file=DYN,
             find="(picked.argmax(-1) == true).float().mean()",
             replace="(logits.argmax(-1) == targets).float().mean()",
             why="the accuracy of the masked tokens only; visible ones are free"),
    # 7.13 the schedule
    Mutation(id="schedule-never-unmasks-all", step="7.13", file=DYN, find=SCHED,
             replace="return int(math.ceil(n * math.cos(math.pi / 2 * (step + 1) / steps)))",
             why="cos(pi/2) is 6e-17 in floating point: rounded up, one token stays masked after the last step"),
    Mutation(id="schedule-step-not-plus-one", step="7.13", file=DYN, find=SCHED,
             replace="return int(math.floor(n * math.cos(math.pi / 2 * step / steps)))",
             why="after step k, k + 1 steps are done: with k / K the first step unmasks nothing and the last not all"),
    Mutation(id="schedule-linear", step="7.13", file=DYN, find=SCHED,
             replace="return int(math.floor(n * (1 - (step + 1) / steps)))",
             why="MaskGIT's schedule is the cosine, which unmasks few tokens first and many at the end"),
    Mutation(id="schedule-fraction", step="7.13", file=DYN, find=SCHED,
             replace="return math.cos(math.pi / 2 * (step + 1) / steps)",
             why="a count of tokens, not the masked fraction"),
    # 7.14 MaskGIT decoding
    Mutation(id="maskgit-remasks-kept-tokens", step="7.14", file=DYN, find=CONF + "\n", replace="",
             why="tokens kept at an earlier step compete again and can be re-masked and resampled"),
    Mutation(id="maskgit-keeps-least-confident", step="7.14", file=DYN, find=REMASK,
             replace="masked = torch.zeros_like(masked)"
                     ".scatter_(1, (-confidence).argsort(-1)[:, :masked_after(k, steps, N)], True)",
             why="re-mask the least confident and keep the most confident, not the reverse"),
    Mutation(id="maskgit-ignores-temperature", step="7.14", file=DYN, find=TEMP,
             replace="probs = logits.softmax(-1)  # (B, N, V)", why="the temperature divides the logits"),
    Mutation(id="maskgit-masks-the-past", step="7.14", file=DYN,
             find="past = torch.zeros(B, t, N, dtype=torch.bool, device=tokens.device)",
             replace="past = torch.ones(B, t, N, dtype=torch.bool, device=tokens.device)",
             why="the frames so far are given: only the new frame is masked"),
]
