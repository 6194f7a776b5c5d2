"""Classic mistakes of chapter 5 (IRIS), each caught by the graded suite (see __init__.py).

Written from each step's contract before the checks that catch them."""

from __future__ import annotations

from . import Mutation

MUTATIONS: list[Mutation] = []

# 5.1-5.7: tokenizer.py and transformer.py
DIST = "dist = flat.pow(2).sum(-1, keepdim=True) + codebook.pow(2).sum(-1) - 2 * flat @ codebook.t()"
VQ = ("    codebook = (z.detach() - codes).pow(2).mean()\n"
      "    commitment = beta * (z - codes.detach()).pow(2).mean()")
PICK = "pick = torch.randint(len(z), (len(dead),), generator=generator, device=z.device)"
COPY = "codebook[dead] = z[pick].to(codebook.dtype)"
MASK = "return torch.arange(keys, device=device)[None, :] <= q"
CACHE = "k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)"
BLOCK = ("        a, kv = self.attn(self.ln1(x), past)\n"
         "        x = x + a\n"
         "        return x + self.mlp(self.ln2(x)), kv")
MUTATIONS += [
    # 5.1 the nearest code
    Mutation(id="nearest-code-argmax", step="5.1", file="tokenizer.py",
             find="dist.argmin(-1)", replace="dist.argmax(-1)",
             why="the nearest code has the smallest distance: argmax picks the farthest one"),
    Mutation(id="nearest-code-dot-product", step="5.1", file="tokenizer.py", find=DIST,
             replace="dist = flat.pow(2).sum(-1, keepdim=True) - 2 * flat @ codebook.t()",
             why="without ||e||^2 the lookup picks the largest dot product: the nearest code only if all are as long"),
    Mutation(id="nearest-code-cross-term-sign", step="5.1", file="tokenizer.py", find=DIST,
             replace="dist = flat.pow(2).sum(-1, keepdim=True) + codebook.pow(2).sum(-1) + 2 * flat @ codebook.t()",
             why="||z - e||^2 = ||z||^2 + ||e||^2 - 2 z.e: with + 2 z.e it is the distance to -z"),
    Mutation(id="nearest-code-flat-tokens", step="5.1", file="tokenizer.py",
             find="return dist.argmin(-1).reshape(z.shape[:-1])", replace="return dist.argmin(-1)",
             why="the tokens keep z's leading dims (B, 16), not the flattened (B * 16,) of the distance matrix"),
    # 5.2 the straight-through estimator
    Mutation(id="straight-through-reversed", step="5.2", file="tokenizer.py",
             find="return z + (codes - z).detach()", replace="return codes + (z - codes).detach()",
             why="the wrong way round: the decoder sees z and the gradient goes to the codes"),
    Mutation(id="straight-through-no-stop-gradient", step="5.2", file="tokenizer.py",
             find="return z + (codes - z).detach()", replace="return z + (codes - z)",
             why="without sg the z's cancel: the value is the codes, but the gradient skips the encoder entirely"),
    Mutation(id="straight-through-returns-codes", step="5.2", file="tokenizer.py",
             find="return z + (codes - z).detach()", replace="return codes",
             why="the decoder sees the codes but the encoder gets no gradient from the reconstruction"),
    Mutation(id="straight-through-returns-z", step="5.2", file="tokenizer.py",
             find="return z + (codes - z).detach()", replace="return z",
             why="decoding z itself skips the quantisation: the decoder never learns to read codes"),
    Mutation(id="straight-through-gradient-into-codes", step="5.2", file="tokenizer.py",
             find="return z + (codes - z).detach()", replace="return codes + z - z.detach()",
             why="the right value and z's gradient, but the reconstruction also drags the codebook"),
    # 5.3 codebook and commitment losses
    Mutation(id="vq-stop-gradients-swapped", step="5.3", file="tokenizer.py", find=VQ,
             replace=("    codebook = (z - codes.detach()).pow(2).mean()\n"
                      "    commitment = beta * (z.detach() - codes).pow(2).mean()"),
             why="the codebook term must move the codes (sg on z), the commitment term z (sg on the codes)"),
    Mutation(id="vq-beta-on-codebook", step="5.3", file="tokenizer.py", find=VQ,
             replace=("    codebook = beta * (z.detach() - codes).pow(2).mean()\n"
                      "    commitment = (z - codes.detach()).pow(2).mean()"),
             why="beta weighs the commitment of the encoder, not the codebook's update"),
    Mutation(id="vq-no-stop-gradient", step="5.3", file="tokenizer.py", find=VQ,
             replace=("    codebook = (z - codes).pow(2).mean()\n"
                      "    commitment = beta * (z - codes).pow(2).mean()"),
             why="without stop-gradients both terms pull z and the codes alike: beta no longer sets the balance"),
    Mutation(id="vq-no-beta", step="5.3", file="tokenizer.py", find=VQ,
             replace=("    codebook = (z.detach() - codes).pow(2).mean()\n"
                      "    commitment = (z - codes.detach()).pow(2).mean()"),
             why="the commitment term is weighted by beta"),
    Mutation(id="vq-returned-swapped", step="5.3", file="tokenizer.py",
             find="return codebook, commitment", replace="return commitment, codebook",
             why="the pair is (codebook loss, commitment loss), as Tokenizer.loss reads it"),
    Mutation(id="vq-sum-over-code-dim", step="5.3", file="tokenizer.py", find=VQ,
             replace=("    codebook = (z.detach() - codes).pow(2).sum(-1).mean()\n"
                      "    commitment = beta * (z - codes.detach()).pow(2).sum(-1).mean()"),
             why="the losses are mean squared errors over every element, not squared norms over the code dim"),
    # 5.4 dead-code restarts
    Mutation(id="restart-live-codes", step="5.4", file="tokenizer.py",
             find="dead = (counts == 0)", replace="dead = (counts > 0)",
             why="the dead codes are the unused ones, counts == 0; restarting the used ones destroys them"),
    Mutation(id="restart-not-in-place", step="5.4", file="tokenizer.py", find=COPY,
             replace="codebook = codebook.index_put((dead,), z[pick].to(codebook.dtype))",
             why="the codebook is changed in place: a new tensor bound to the local name is thrown away"),
    Mutation(id="restart-indices-swapped", step="5.4", file="tokenizer.py", find=COPY,
             replace="codebook[pick] = z[dead].to(codebook.dtype)",
             why="the dead codes are written, with random rows of z: not random codes with the dead rows of z"),
    Mutation(id="restart-fixed-rows", step="5.4", file="tokenizer.py", find=PICK,
             replace="pick = torch.arange(len(dead), device=z.device) % len(z)",
             why="the rows of z are drawn at random, not the first ones each time"),
    Mutation(id="restart-ignores-generator", step="5.4", file="tokenizer.py", find=PICK,
             replace="pick = torch.randint(len(z), (len(dead),), device=z.device)",
             why="the draw must use the generator passed in, so that a seeded run restarts the same way"),
    Mutation(id="restart-onto-noise", step="5.4", file="tokenizer.py", find=COPY,
             replace="codebook[dead] = torch.randn(len(dead), codebook.shape[1], generator=generator)",
             why="a dead code jumps onto an encoder output, where it will be picked, not onto random noise"),
    # 5.5 the causal mask
    Mutation(id="mask-strict", step="5.5", file="transformer.py", find=MASK,
             replace="return torch.arange(keys, device=device)[None, :] < q",
             why="a position sees itself: j <= i, not j < i (the first position would see nothing)"),
    Mutation(id="mask-sees-future", step="5.5", file="transformer.py", find=MASK,
             replace="return torch.arange(keys, device=device)[None, :] >= q",
             why="the mask transposed: each query sees the keys after it, the future"),
    Mutation(id="mask-inverted", step="5.5", file="transformer.py", find=MASK,
             replace="return torch.arange(keys, device=device)[None, :] > q",
             why="True marks where attention is allowed, not where it is masked"),
    Mutation(id="mask-ignores-offset", step="5.5", file="transformer.py",
             find="offset = keys - queries", replace="offset = 0",
             why="with a cache the queries are the last positions: query i sits at keys - queries + i"),
    Mutation(id="mask-sees-next", step="5.5", file="transformer.py",
             find="offset = keys - queries", replace="offset = keys - queries + 1",
             why="an off-by-one in the offset lets each position see the token after it"),
    # 5.6 causal self-attention with a cache
    Mutation(id="attn-cache-after-new", step="5.6", file="transformer.py", find=CACHE,
             replace="k, v = torch.cat([k, past[0]], 2), torch.cat([v, past[1]], 2)",
             why="the cached positions come first: they are the earlier ones the mask counts from"),
    Mutation(id="attn-cache-unused", step="5.6", file="transformer.py",
             find=f"        if past is not None:\n            {CACHE}", replace="",
             why="without the cached keys and values a new token attends only to itself and the other new ones"),
    Mutation(id="attn-no-scale", step="5.6", file="transformer.py",
             find="att = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])", replace="att = q @ k.transpose(-1, -2)",
             why="without 1 / sqrt(d) the scores grow with the head size and the softmax saturates"),
    Mutation(id="attn-heads-merged-wrong", step="5.6", file="transformer.py",
             find="y = y.transpose(1, 2).reshape(B, L, E)", replace="y = y.reshape(B, L, E)",
             why="(B, h, L, d) reshaped straight to (B, L, E) mixes the features of different positions"),
    Mutation(id="attn-no-mask", step="5.6", file="transformer.py",
             find='        att = att.masked_fill(~causal_mask(L, k.shape[2], x.device), float("-inf"))\n', replace="",
             why="without the mask every position sees the future, which the model then cannot have when it dreams"),
    Mutation(id="attn-mask-fill-zero", step="5.6", file="transformer.py",
             find='float("-inf")', replace="0.0",
             why="a masked score of 0 still gets weight exp(0) in the softmax: only -inf removes a key"),
    Mutation(id="attn-no-projection", step="5.6", file="transformer.py",
             find="return self.drop(self.proj(y)), (k, v)", replace="return self.drop(y), (k, v)",
             why="the merged heads go through the output projection"),
    # 5.7 the pre-LN block
    Mutation(id="block-post-ln", step="5.7", file="transformer.py", find=BLOCK,
             replace=("        a, kv = self.attn(x, past)\n"
                      "        x = self.ln1(x + a)\n"
                      "        return self.ln2(x + self.mlp(x)), kv"),
             why="GPT-2's block is pre-LN, x + f(LN(x)): post-LN normalises the residual stream itself"),
    Mutation(id="block-no-attention-residual", step="5.7", file="transformer.py",
             find="        x = x + a\n", replace="        x = a\n",
             why="the attention's output is added to x, not put in its place"),
    Mutation(id="block-no-mlp-residual", step="5.7", file="transformer.py",
             find="return x + self.mlp(self.ln2(x)), kv", replace="return self.mlp(self.ln2(x)), kv",
             why="the MLP's output is added to the residual stream, not put in its place"),
    Mutation(id="block-mlp-reads-input", step="5.7", file="transformer.py",
             find="        x = x + a\n        return x + self.mlp(self.ln2(x)), kv",
             replace="        return x + a + self.mlp(self.ln2(x)), kv",
             why="the MLP reads the stream after the attention step, h = x + attn(ln1(x)), not the block's input"),
    Mutation(id="block-norms-swapped", step="5.7", file="transformer.py", find=BLOCK,
             replace=("        a, kv = self.attn(self.ln2(x), past)\n"
                      "        x = x + a\n"
                      "        return x + self.mlp(self.ln1(x)), kv"),
             why="each sublayer has its own LayerNorm: ln1 before the attention, ln2 before the MLP"),
    Mutation(id="block-ignores-cache", step="5.7", file="transformer.py",
             find="self.attn(self.ln1(x), past)", replace="self.attn(self.ln1(x))",
             why="the cache must reach the attention, or each new token forgets every earlier one"),
]

# 5.8-5.13: world_model.py, sample.py and actor_critic.py
WHERE = "torch.where(is_action, act, obs)"
POS = "pos = torch.arange(start, start + ids.shape[1], device=ids.device)"
IN_FRAME = "obs[:, :, :K - 1] = tokens[:, :-1, 1:]"
NEXT_FIRST = "obs[:, :, K] = tokens[:, 1:, 0]"
CLASSES = "(torch.sign(rewards) + 1).long()"
OBS_CE = 'obs = F.cross_entropy(out["obs"].flatten(0, 1), obs_t.flatten(), ignore_index=IGNORE)'
FILL = "obs_t = obs_t.masked_fill(~keep[..., None], IGNORE)"
LOOP = ("    for _ in range(model.K):\n"
        "        token = sample_class(out[\"obs\"][:, -1], temperature)  # (B,)\n"
        "        tokens.append(token)\n"
        "        out, cache = model(token[:, None], cache)")
RECURSION = "last = rewards[:, t] + gamma * (1 - ends[:, t]) * ((1 - lam) * values[:, t + 1] + lam * last)"
MEAN = "mean = lambda x: (weights * x).sum() / weights.sum().clamp(min=1)"
MUTATIONS += [
    # 5.8 embedding frame tokens and actions
    Mutation(id="embed-ignores-start", step="5.8", file="world_model.py", find=POS,
             replace="pos = torch.arange(ids.shape[1], device=ids.device)",
             why="with a cache the new ids sit at positions start.., not 0..: a dreamed action is embedded as a token"),
    Mutation(id="embed-action-slot-first", step="5.8", file="world_model.py",
             find="pos % self.block == self.K", replace="pos % self.block == 0",
             why="the action is the last id of each block (slot K = 16), after the frame's tokens"),
    Mutation(id="embed-action-slot-off-by-one", step="5.8", file="world_model.py",
             find="pos % self.block == self.K", replace="pos % self.block == self.K - 1",
             why="slots 0..K-1 hold the K frame tokens; the action is slot K, not K - 1"),
    Mutation(id="embed-tables-swapped", step="5.8", file="world_model.py", find=WHERE,
             replace="torch.where(is_action, obs, act)",
             why="actions are looked up in the action table and tokens in the token table, not the other way"),
    Mutation(id="embed-one-table", step="5.8", file="world_model.py", find=WHERE, replace="obs",
             why="an action id and a token id with the same value mean different things: two tables"),
    Mutation(id="embed-no-position", step="5.8", file="world_model.py",
             find=" + self.pos_embed(pos)", replace="",
             why="attention is blind to order: without the position embedding the GPT cannot tell token 3 from 13"),
    Mutation(id="embed-slot-position-only", step="5.8", file="world_model.py",
             find="self.pos_embed(pos)", replace="self.pos_embed(pos % self.block)",
             why="each of the max_blocks * 17 positions has its own embedding, not only its slot within a block"),
    # 5.9 what each position predicts
    Mutation(id="targets-current-token", step="5.9", file="world_model.py", find=IN_FRAME,
             replace="obs[:, :, :K - 1] = tokens[:, :-1, :-1]",
             why="each slot predicts the *next* token: slot k's target is token k + 1, not its own input"),
    Mutation(id="targets-action-predicts-same-frame", step="5.9", file="world_model.py", find=NEXT_FIRST,
             replace="obs[:, :, K] = tokens[:, :-1, 0]",
             why="the action slot predicts the first token of the *next* frame, t + 1"),
    Mutation(id="targets-next-frame-at-last-token", step="5.9", file="world_model.py", find=NEXT_FIRST,
             replace="obs[:, :, K - 1] = tokens[:, 1:, 0]",
             why="the slot before the action cannot know the action yet: the next frame is predicted at slot K"),
    Mutation(id="targets-slots-shifted", step="5.9", file="world_model.py", find=IN_FRAME,
             replace="obs[:, :, 1:K] = tokens[:, :-1, 1:]",
             why="slot k predicts token k + 1: written one slot to the right, every slot predicts its own input"),
    Mutation(id="targets-reward-no-offset", step="5.9", file="world_model.py", find=CLASSES,
             replace="torch.sign(rewards).long()",
             why="the classes are sign(r) + 1 in {0, 1, 2}: sign(r) alone gives class -1"),
    Mutation(id="targets-reward-sign-flipped", step="5.9", file="world_model.py", find=CLASSES,
             replace="(1 - torch.sign(rewards)).long()",
             why="class 2 is a positive reward and class 0 a negative one"),
    Mutation(id="targets-reward-unclipped", step="5.9", file="world_model.py", find=CLASSES,
             replace="(rewards.clamp(-1, 1) + 1).long()",
             why="the reward class is the sign: a reward of 0.5 is class 2, not class 1 (clamping is not the sign)"),
    # 5.10 the world-model loss
    Mutation(id="wm-loss-reward-at-last-token", step="5.10", file="world_model.py",
             find="[:, :, model.K][keep]", replace="[:, :, model.K - 1][keep]",
             why="the reward and end are read at the action slot, where the model has seen the action"),
    Mutation(id="wm-loss-mask-ignored", step="5.10", file="world_model.py", find=FILL, replace="obs_t = obs_t",
             why="steps past the chunk's first episode pair frames of two episodes: their targets must not count"),
    Mutation(id="wm-loss-mask-inverted", step="5.10", file="world_model.py", find=FILL,
             replace="obs_t = obs_t.masked_fill(keep[..., None], IGNORE)",
             why="mask is 1 on the steps that count: the masked_fill drops the others (~keep)"),
    Mutation(id="wm-loss-reward-unmasked", step="5.10", file="world_model.py",
             find='reward = F.cross_entropy(at_action(out["reward"]), reward_t[keep])',
             replace=('reward = F.cross_entropy(out["reward"].view(B, T, model.block, -1)[:, :, model.K]'
                      '.flatten(0, 1), reward_t.flatten())'),
             why="a masked step's reward belongs to another episode's frames: leave it out as the tokens are"),
    Mutation(id="wm-loss-diluted-mean", step="5.10", file="world_model.py", find=OBS_CE,
             replace=('obs = F.cross_entropy(out["obs"].flatten(0, 1), obs_t.flatten(), ignore_index=IGNORE, '
                      'reduction="sum") / obs_t.numel()'),
             why="the mean is over the counted targets; dividing by every slot shrinks the loss by the ignored share"),
    Mutation(id="wm-loss-no-end", step="5.10", file="world_model.py",
             find='"loss": obs + reward + end', replace='"loss": obs + reward',
             why="the loss is the sum of all three cross-entropies: without the end term the end head never learns"),
    # 5.11 one dream step
    Mutation(id="dream-last-token-not-fed", step="5.11", file="sample.py", find=LOOP,
             replace=("    for k in range(model.K):\n"
                      "        token = sample_class(out[\"obs\"][:, -1], temperature)  # (B,)\n"
                      "        tokens.append(token)\n"
                      "        if k < model.K - 1:\n"
                      "            out, cache = model(token[:, None], cache)"),
             why="the K-th token is fed too: otherwise the cache is one position short and the next action lands in a "
                 "token slot"),
    Mutation(id="dream-reward-class-as-reward", step="5.11", file="sample.py",
             find='reward = sample_class(out["reward"][:, -1]).float() - 1',
             replace='reward = sample_class(out["reward"][:, -1]).float()',
             why="the reward classes 0, 1, 2 mean -1, 0, +1"),
    Mutation(id="dream-greedy-tokens", step="5.11", file="sample.py",
             find='token = sample_class(out["obs"][:, -1], temperature)',
             replace='token = out["obs"][:, -1].argmax(-1)',
             why="tokens are sampled: the argmax always draws the most likely future, and a dream never branches"),
    Mutation(id="dream-temperature-on-reward", step="5.11", file="sample.py",
             find='reward = sample_class(out["reward"][:, -1])',
             replace='reward = sample_class(out["reward"][:, -1], temperature)',
             why="the temperature shapes the frame tokens only; the reward and the end are drawn as predicted"),
    Mutation(id="dream-action-after-tokens", step="5.11", file="sample.py",
             find="    out, cache = model(action[:, None], cache)  # the action position\n",
             replace="    out, _ = model(action[:, None], cache)  # the action position\n",
             why="the action's position must enter the cache: the next frame's tokens are conditioned on it"),
    Mutation(id="dream-tokens-time-major", step="5.11", file="sample.py",
             find="return torch.stack(tokens, 1), reward, end, cache",
             replace="return torch.stack(tokens, 0), reward, end, cache",
             why="the tokens come back (B, K), one frame per row, as the decoder reads them"),
    # 5.12 lambda-returns
    Mutation(id="lambda-bootstrap-own-value", step="5.12", file="actor_critic.py", find=RECURSION,
             replace="last = rewards[:, t] + gamma * (1 - ends[:, t]) * ((1 - lam) * values[:, t] + lam * last)",
             why="G_t bootstraps from V_{t+1}, the value of the state the action led to, not V_t"),
    Mutation(id="lambda-ends-ignored", step="5.12", file="actor_critic.py", find=RECURSION,
             replace="last = rewards[:, t] + gamma * ((1 - lam) * values[:, t + 1] + lam * last)",
             why="after an imagined end nothing is bootstrapped: the discount is gamma (1 - d_t)"),
    Mutation(id="lambda-end-masks-value-only", step="5.12", file="actor_critic.py", find=RECURSION,
             replace=("last = rewards[:, t] + gamma * ((1 - lam) * (1 - ends[:, t]) * values[:, t + 1] "
                      "+ lam * last)"),
             why="the end cuts the whole future, the running return G_{t+1} as well as the value V_{t+1}"),
    Mutation(id="lambda-weights-swapped", step="5.12", file="actor_critic.py", find=RECURSION,
             replace="last = rewards[:, t] + gamma * (1 - ends[:, t]) * (lam * values[:, t + 1] + (1 - lam) * last)",
             why="lambda weighs the longer return G_{t+1}; 1 - lambda the one-step bootstrap V_{t+1}"),
    Mutation(id="lambda-reversed-order", step="5.12", file="actor_critic.py",
             find="return torch.stack(out[::-1], 1)", replace="return torch.stack(out, 1)",
             why="the loop runs backwards: the list holds G_{H-1} first and must be reversed"),
    Mutation(id="lambda-starts-at-zero", step="5.12", file="actor_critic.py",
             find="last, out = values[:, -1], []", replace="last, out = torch.zeros_like(values[:, -1]), []",
             why="G_H = V_H: the dream's last value stands for everything after the horizon"),
    # 5.13 the actor-critic loss
    Mutation(id="ac-advantage-not-detached", step="5.13", file="actor_critic.py",
             find="advantage = (returns - values[:, :-1]).detach()", replace="advantage = returns - values[:, :-1]",
             why="the advantage is a constant weight of log pi: the actor's loss must not train the critic"),
    Mutation(id="ac-entropy-sign", step="5.13", file="actor_critic.py",
             find="- entropy_scale * mean(entropy)", replace="+ entropy_scale * mean(entropy)",
             why="the entropy is a bonus: minimising the loss must raise it"),
    Mutation(id="ac-value-shifted", step="5.13", file="actor_critic.py",
             find="value = mean((values[:, :-1] - returns.detach()).pow(2))",
             replace="value = mean((values[:, 1:] - returns.detach()).pow(2))",
             why="V_t regresses G_t: values has one more step than the returns, the last is V_H"),
    Mutation(id="ac-value-target-not-detached", step="5.13", file="actor_critic.py",
             find="returns.detach()).pow(2)", replace="returns).pow(2)",
             why="the lambda-return is the critic's target: no gradient may flow into it"),
    Mutation(id="ac-unweighted-mean", step="5.13", file="actor_critic.py", find=MEAN,
             replace="mean = lambda x: x.mean()",
             why="the steps after an imagined end count for nothing: weighted means"),
    Mutation(id="ac-mean-over-all-steps", step="5.13", file="actor_critic.py", find=MEAN,
             replace="mean = lambda x: (weights * x).sum() / weights.numel()",
             why="the weighted mean divides by the sum of the weights, the steps that count"),
    Mutation(id="ac-probability-not-log", step="5.13", file="actor_critic.py",
             find="chosen = logp.gather(-1, actions[..., None]).squeeze(-1)",
             replace="chosen = logp.exp().gather(-1, actions[..., None]).squeeze(-1)",
             why="REINFORCE weighs the log-probability of the taken action, not its probability"),
    Mutation(id="ac-entropy-from-logits", step="5.13", file="actor_critic.py",
             find="entropy = -(logp.exp() * logp).sum(-1)", replace="entropy = -(logits.softmax(-1) * logits).sum(-1)",
             why="the entropy uses log-probabilities: raw logits differ from them by a constant per row"),
]
