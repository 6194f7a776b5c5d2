"""Classic mistakes of chapter 1 (World Models), each caught by the graded suite (see __init__.py).

The guide's "Common mistakes" box (IMPLEMENTATION_GUIDE.md, chapter 1) names every id below.
"""

from __future__ import annotations

from . import Mutation

MUTATIONS: list[Mutation] = [
    # ---------------------------------------------------------------- V: vae.py
    Mutation(id="encode-no-relu", step="1.1", file="vae.py",
             find="h = F.relu(conv(h))",
             replace="h = conv(h)",
             why="without a nonlinearity the four convolutions collapse into one linear map"),
    Mutation(id="sigma-is-exp-logvar", step="1.2", file="vae.py",
             find="return mu + torch.exp(0.5 * logvar) * eps",
             replace="return mu + torch.exp(logvar) * eps",
             why="logvar is the log of the variance, so the standard deviation is exp(logvar / 2)"),
    Mutation(id="decode-no-sigmoid", step="1.3", file="vae.py",
             find="h = torch.sigmoid(h) if i == len(self.dec) - 1 else F.relu(h)",
             replace="h = F.relu(h)",
             why="pixels live in [0, 1]; a ReLU on the last layer neither bounds them nor gives 0.5 for 0"),
    Mutation(id="recon-mean-over-pixels", step="1.4", file="vae.py",
             find="recon = (x_hat - x).pow(2).flatten(1).sum(1)",
             replace="recon = (x_hat - x).pow(2).flatten(1).mean(1)",
             why="F.mse_loss's default averages over the 12,288 pixels, shrinking the reconstruction term "
                 "12,288 times against the KL: blurry, grey reconstructions"),
    Mutation(id="kl-no-free-bits", step="1.4", file="vae.py",
             find="kl_clipped = kl.clamp(min=kl_tolerance * mu.shape[1])",
             replace="kl_clipped = kl",
             why="forgetting the KL tolerance (free bits) of the authors' code"),
    Mutation(id="kl-clamp-batch-mean", step="1.4", file="vae.py",
             find="loss = recon.mean() + kl_clipped.mean()",
             replace="loss = recon.mean() + kl.mean().clamp(min=kl_tolerance * mu.shape[1])",
             why="clamping the batch-mean KL lets images above the floor pay for images below it; the "
                 "floor applies to each image"),
    # ---------------------------------------------------------------- M: rnn.py
    Mutation(id="log-pi-not-normalised", step="1.5", file="rnn.py",
             find="log_pi = F.log_softmax(logits.reshape(shape), dim=-1)",
             replace="log_pi = logits.reshape(shape)",
             why="raw logits are not log mixture weights until log_softmax makes them sum to 1"),
    Mutation(id="softmax-over-dimensions", step="1.5", file="rnn.py",
             find="log_pi = F.log_softmax(logits.reshape(shape), dim=-1)",
             replace="log_pi = F.log_softmax(logits.reshape(shape), dim=-2)",
             why="the weights of one dimension's K components sum to 1, not the weights across dimensions"),
    Mutation(id="nll-exp-then-log", step="1.6", file="rnn.py",
             find="return -torch.logsumexp(log_prob, dim=-1).mean()",
             replace="return -torch.log(log_prob.exp().sum(-1)).mean()",
             why="exp of a very negative log-density underflows to 0 and log(0) = -inf: use logsumexp"),
    Mutation(id="nll-missing-log-sigma", step="1.6", file="rnn.py",
             find="log_prob = log_pi - log_sigma - 0.5",
             replace="log_prob = log_pi - 0.5",
             why="the Gaussian density has a 1 / sigma in front; without -log(sigma) wide components cost "
                 "nothing"),
    Mutation(id="temperature-on-sigma", step="1.7", file="rnn.py",
             find="return mu_k + sigma_k * math.sqrt(tau) * eps",
             replace="return mu_k + sigma_k * tau * eps",
             why="temperature scales the variance, so the standard deviation grows with sqrt(tau)"),
    Mutation(id="temperature-not-on-weights", step="1.7", file="rnn.py",
             find="weights = F.softmax(log_pi / tau, dim=-1)",
             replace="weights = F.softmax(log_pi, dim=-1)",
             why="temperature also sharpens or flattens the choice of component, not only its noise"),
    Mutation(id="temperature-multiplies-logits", step="1.7", file="rnn.py",
             find="weights = F.softmax(log_pi / tau, dim=-1)",
             replace="weights = F.softmax(log_pi * tau, dim=-1)",
             why="a high temperature must flatten the weights: divide the logits by tau"),
    Mutation(id="sequence-loss-off-by-one", step="1.8", file="rnn.py",
             find="return mdn_nll(log_pi, mu, log_sigma, z[:, 1:])",
             replace="return mdn_nll(log_pi, mu, log_sigma, z[:, :-1])",
             why="scoring z_t instead of z_{t+1} teaches M to copy its input, not to predict the future"),
    Mutation(id="sequence-loss-actions-shifted", step="1.8", file="rnn.py",
             find="model(z[:, :-1], actions[:, :-1])",
             replace="model(z[:, :-1], actions[:, 1:])",
             why="a_t is the action taken at z_t; pairing z_t with a_{t+1} shows M the future"),
    # ---------------------------------------------------------------- C: controller.py
    Mutation(id="gas-not-mapped", step="1.9", file="controller.py",
             find="(gas + 1) / 2",
             replace="gas",
             why="tanh gives [-1, 1], but CarRacing's gas is in [0, 1]"),
    Mutation(id="brake-not-clipped", step="1.9", file="controller.py",
             find="brake.clamp(0.0, 1.0)",
             replace="brake",
             why="CarRacing's brake is in [0, 1]; a negative brake is not a valid action"),
    Mutation(id="set-flat-wrong-order", step="1.10", file="controller.py",
             find="for p in module.parameters():",
             replace="for p in reversed(list(module.parameters())):",
             why="set_flat must read the vector in the order get_flat wrote it"),
    Mutation(id="weight-decay-sign-flipped", step="1.11", file="controller.py",
             find="np.float64) - weight_decay * np.mean",
             replace="np.float64) + weight_decay * np.mean",
             why="the bug of an early ES wrapper: adding the L2 penalty rewards large weights"),
    Mutation(id="cma-told-plus-fitness", step="1.12", file="controller.py",
             find="es.tell(solutions, (-fitness).tolist())",
             replace="es.tell(solutions, fitness.tolist())",
             why="cma minimises what it is told; telling it the fitness makes it seek the worst driver"),
    Mutation(id="weight-decay-ignored", step="1.12", file="controller.py",
             find="fitness = penalised_fitness(returns, np.asarray(solutions), weight_decay)",
             replace="fitness = returns",
             why="computing the penalty but telling cma the raw returns drops the weight decay"),
]

# Written from each step's contract (issue 9), before the checks that catch them.
MUTATIONS += [
    # ---------------------------------------------------------------- V: vae.py
    Mutation(id="encode-flatten-channels-last", step="1.1", file="vae.py",
             find="h = h.flatten(1)  # (B, 1024)",
             replace="h = h.permute(0, 2, 3, 1).flatten(1)  # (B, 1024)",
             why="the authors' TensorFlow code flattens (H, W, C) maps; fc_mu and fc_logvar read PyTorch's "
                 "(C, H, W) order, so the same weights see the features scrambled"),
    Mutation(id="encode-no-relu-after-last-conv", step="1.1", file="vae.py",
             find="        for conv in self.enc:\n            h = F.relu(conv(h))",
             replace="        for i, conv in enumerate(self.enc):\n"
                     "            h = conv(h) if i == len(self.enc) - 1 else F.relu(conv(h))",
             why="every one of the four convolutions is followed by a ReLU, the last one too"),
    Mutation(id="encode-heads-swapped", step="1.1", file="vae.py",
             find="return self.fc_mu(h), self.fc_logvar(h)",
             replace="return self.fc_logvar(h), self.fc_mu(h)",
             why="mu is read by fc_mu and logvar by fc_logvar; swapped, the trained heads mean the opposite"),
    Mutation(id="reparam-ignores-given-eps", step="1.2", file="vae.py",
             find="    if eps is None:\n        eps = torch.randn_like(mu)",
             replace="    eps = torch.randn_like(mu)",
             why="noise passed by the caller (fixed noise in tests and evaluation) must be the noise used"),
    Mutation(id="reparam-uniform-noise", step="1.2", file="vae.py",
             find="eps = torch.randn_like(mu)",
             replace="eps = torch.rand_like(mu)",
             why="rand draws U(0, 1), not N(0, 1): the samples are shifted by sigma / 2 and too narrow"),
    Mutation(id="reparam-noise-shared-across-dims", step="1.2", file="vae.py",
             find="eps = torch.randn_like(mu)",
             replace="eps = torch.randn_like(mu[..., :1]).expand_as(mu)",
             why="one noise number per image moves all Z dimensions together: the draws are correlated, "
                 "not N(mu, diag(sigma^2))"),
    Mutation(id="decode-relu-after-fc", step="1.3", file="vae.py",
             find="h = self.fc_dec(z).view(-1, 1024, 1, 1)",
             replace="h = F.relu(self.fc_dec(z)).view(-1, 1024, 1, 1)",
             why="the authors feed fc_dec's output to the first transposed conv as it is; a ReLU there "
                 "throws its negative half away"),
    Mutation(id="decode-sigmoid-every-layer", step="1.3", file="vae.py",
             find="h = torch.sigmoid(h) if i == len(self.dec) - 1 else F.relu(h)",
             replace="h = torch.sigmoid(h)",
             why="the sigmoid belongs after the last layer only; between the layers it is ReLU"),
    Mutation(id="decode-no-relu-between", step="1.3", file="vae.py",
             find="h = torch.sigmoid(h) if i == len(self.dec) - 1 else F.relu(h)",
             replace="h = torch.sigmoid(h) if i == len(self.dec) - 1 else h",
             why="without ReLU between them the four transposed convolutions collapse into one linear map"),
    Mutation(id="kl-logged-after-clamp", step="1.4", file="vae.py",
             find='"kl": kl.mean()}',
             replace='"kl": kl_clipped.mean()}',
             why="the logged KL is the raw one; the floored value never drops below the floor and hides "
                 "posterior collapse"),
    Mutation(id="kl-floor-ignores-z-dim", step="1.4", file="vae.py",
             find="kl_clipped = kl.clamp(min=kl_tolerance * mu.shape[1])",
             replace="kl_clipped = kl.clamp(min=kl_tolerance)",
             why="the tolerance is 0.5 nats per latent dimension: each image's floor is 0.5 * Z, not 0.5"),
    Mutation(id="kl-mean-over-dims", step="1.4", file="vae.py",
             find="kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)",
             replace="kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).mean(1)",
             why="the KL of a diagonal Gaussian is a sum over its dimensions; a mean divides it by Z"),
    # ---------------------------------------------------------------- M: rnn.py
    Mutation(id="mdn-log-of-softmax", step="1.5", file="rnn.py",
             find="log_pi = F.log_softmax(logits.reshape(shape), dim=-1)",
             replace="log_pi = torch.log(F.softmax(logits.reshape(shape), dim=-1))",
             why="the log of a softmax that underflowed to 0 is -inf; log_softmax stays finite"),
    Mutation(id="mdn-reshape-k-major", step="1.5", file="rnn.py",
             find="    shape = out.shape[:-1] + (z_dim, n_mix)\n"
                  "    log_pi = F.log_softmax(logits.reshape(shape), dim=-1)\n"
                  "    return log_pi, mu.reshape(shape), log_sigma.reshape(shape)",
             replace="    shape = out.shape[:-1] + (n_mix, z_dim)\n"
                     "    log_pi = F.log_softmax(logits.reshape(shape).transpose(-1, -2), dim=-1)\n"
                     "    return log_pi, mu.reshape(shape).transpose(-1, -2), "
                     "log_sigma.reshape(shape).transpose(-1, -2)",
             why="each third of the last axis is laid out (Z, K), K numbers per dimension; reading it as "
                 "(K, Z) hands each dimension numbers of the others"),
    Mutation(id="mdn-leading-shape-assumed-3d", step="1.5", file="rnn.py",
             find="shape = out.shape[:-1] + (z_dim, n_mix)",
             replace="shape = (out.shape[0], out.shape[1], z_dim, n_mix)",
             why="dreaming calls mdn_params on (B, 3ZK), one step at a time: the leading shape must come "
                 "from out, not be assumed (B, T)"),
    Mutation(id="nll-sums-over-dimensions", step="1.6", file="rnn.py",
             find="return -torch.logsumexp(log_prob, dim=-1).mean()",
             replace="return -torch.logsumexp(log_prob, dim=-1).sum(-1).mean()",
             why="the contract and the authors' code average over Z too; a sum makes the loss Z times "
                 "larger and changes the learning rate's scale"),
    Mutation(id="nll-divides-by-variance", step="1.6", file="rnn.py",
             find="((x - mu) / log_sigma.exp()).pow(2)",
             replace="((x - mu) / (2 * log_sigma).exp()).pow(2)",
             why="the exponent is ((x - mu) / sigma)^2 / 2; dividing by the variance before squaring "
                 "gives sigma^4 in the denominator"),
    Mutation(id="nll-ignores-weights", step="1.6", file="rnn.py",
             find="log_prob = log_pi - log_sigma - 0.5",
             replace="log_prob = -log_sigma - 0.5",
             why="the mixture weights enter as log_pi_k inside the logsumexp; without them every "
                 "component counts with weight 1"),
    Mutation(id="sample-noise-shared-across-dims", step="1.7", file="rnn.py",
             find="eps = torch.randn(mu_k.shape, generator=generator, dtype=mu_k.dtype)",
             replace="eps = torch.randn(mu_k.shape[:-1] + (1,), generator=generator, dtype=mu_k.dtype)",
             why="every dimension has its own Gaussian and needs its own noise; one number per position "
                 "moves all Z dimensions together"),
    Mutation(id="sample-component-shared-across-dims", step="1.7", file="rnn.py",
             find="    flat = weights.reshape(-1, weights.shape[-1])\n"
                  "    k = torch.multinomial(flat, 1, generator=generator).view(weights.shape[:-1] + (1,))",
             replace="    flat = weights.mean(-2).reshape(-1, weights.shape[-1])\n"
                     "    k = torch.multinomial(flat, 1, generator=generator).view(weights.shape[:-2] + (1, 1))"
                     ".expand(weights.shape[:-1] + (1,))",
             why="the authors' M has weights per dimension and picks a component per dimension; one "
                 "choice for the whole vector is the other, shared-weights model"),
    Mutation(id="sample-generator-ignored-by-noise", step="1.7", file="rnn.py",
             find="eps = torch.randn(mu_k.shape, generator=generator, dtype=mu_k.dtype)",
             replace="eps = torch.randn(mu_k.shape, dtype=mu_k.dtype)",
             why="a generator given by the caller must drive every draw, or seeded dreams do not repeat"),
    Mutation(id="sample-generator-ignored-by-choice", step="1.7", file="rnn.py",
             find="torch.multinomial(flat, 1, generator=generator)",
             replace="torch.multinomial(flat, 1)",
             why="the choice of component is a random draw too: it must use the caller's generator"),
    Mutation(id="sample-log-sigma-as-std", step="1.7", file="rnn.py",
             find="sigma_k = log_sigma.gather(-1, k).squeeze(-1).exp()",
             replace="sigma_k = log_sigma.gather(-1, k).squeeze(-1)",
             why="the mixture holds log standard deviations; the standard deviation is their exp"),
    Mutation(id="sequence-loss-drops-first-output", step="1.8", file="rnn.py",
             find="    (log_pi, mu, log_sigma), _ = model(z[:, :-1], actions[:, :-1])\n"
                  "    return mdn_nll(log_pi, mu, log_sigma, z[:, 1:])",
             replace="    (log_pi, mu, log_sigma), _ = model(z, actions)\n"
                     "    return mdn_nll(log_pi[:, 1:], mu[:, 1:], log_sigma[:, 1:], z[:, 1:])",
             why="the output at t predicts z_{t+1}: dropping the first output instead of the last scores "
                 "each prediction against the latent it has just read"),
    Mutation(id="sequence-loss-no-memory", step="1.8", file="rnn.py",
             find="    (log_pi, mu, log_sigma), _ = model(z[:, :-1], actions[:, :-1])\n"
                  "    return mdn_nll(log_pi, mu, log_sigma, z[:, 1:])",
             replace="    b, n = z.shape[0], z.shape[1] - 1\n"
                     "    (log_pi, mu, log_sigma), _ = model(z[:, :-1].reshape(b * n, 1, -1), "
                     "actions[:, :-1].reshape(b * n, 1, -1))\n"
                     "    return mdn_nll(log_pi, mu, log_sigma, z[:, 1:].reshape(b * n, 1, -1))",
             why="feeding every step as its own length-1 sequence restarts the LSTM each step: M forgets "
                 "the past and h_t carries nothing"),
    Mutation(id="sequence-loss-shifts-batch-not-time", step="1.8", file="rnn.py",
             find="    (log_pi, mu, log_sigma), _ = model(z[:, :-1], actions[:, :-1])\n"
                  "    return mdn_nll(log_pi, mu, log_sigma, z[:, 1:])",
             replace="    (log_pi, mu, log_sigma), _ = model(z[:-1], actions[:-1])\n"
                     "    return mdn_nll(log_pi, mu, log_sigma, z[1:])",
             why="z is (B, T, Z), batch first: the shift is along time (axis 1); shifting axis 0 makes "
                 "each sequence predict another one"),
    # ---------------------------------------------------------------- C: controller.py
    Mutation(id="controller-no-tanh", step="1.9", file="controller.py",
             find="a = torch.tanh(self.fc(features))",
             replace="a = self.fc(features)",
             why="without tanh the steering is unbounded and gas leaves [0, 1]: the authors squash all "
                 "three outputs first"),
    Mutation(id="brake-mapped-like-gas", step="1.9", file="controller.py",
             find="brake.clamp(0.0, 1.0)",
             replace="(brake + 1) / 2",
             why="the brake is clipped, not mapped: an output of 0 must mean no brake, not half brake"),
    Mutation(id="controller-in-place-edit", step="1.9", file="controller.py",
             find="        steer, gas, brake = a.unbind(-1)\n"
                  "        return torch.stack([steer, (gas + 1) / 2, brake.clamp(0.0, 1.0)], dim=-1)",
             replace="        a[..., 1] = (a[..., 1] + 1) / 2\n"
                     "        a[..., 2] = a[..., 2].clamp(0.0, 1.0)\n"
                     "        return a",
             why="editing tanh's output in place breaks its backward pass: autograd needs that output"),
    Mutation(id="get-flat-float32", step="1.10", file="controller.py",
             find="for p in module.parameters()]).double().numpy()",
             replace="for p in module.parameters()]).numpy()",
             why="CMA-ES works in float64; a float32 vector loses precision in its updates of tiny steps"),
    Mutation(id="get-flat-includes-buffers", step="1.10", file="controller.py",
             find="torch.cat([p.detach().reshape(-1) for p in module.parameters()])",
             replace="torch.cat([p.detach().reshape(-1).double() for p in module.state_dict().values()])",
             why="state_dict() also holds buffers (BatchNorm's running statistics): they are not "
                 "parameters, and set_flat would read the vector shifted"),
    Mutation(id="set-flat-no-length-check", step="1.10", file="controller.py",
             find="    if flat.numel() != sum(p.numel() for p in module.parameters()):\n"
                  "        raise ValueError(f\"expected {sum(p.numel() for p in module.parameters())} numbers, "
                  "got {flat.numel()}\")\n",
             replace="",
             why="a vector of the wrong length (another controller's, an old checkpoint's) must be an "
                 "error, not silently cut or half-read"),
    Mutation(id="set-flat-offset-not-advanced", step="1.10", file="controller.py",
             find="            p.copy_(flat[i:i + p.numel()].view_as(p))\n            i += p.numel()",
             replace="            p.copy_(flat[i:i + p.numel()].view_as(p))",
             why="without advancing the offset every parameter takes the first numbers of the vector"),
    Mutation(id="weight-decay-sum-not-mean", step="1.11", file="controller.py",
             find="np.mean(np.square(solutions), axis=1)",
             replace="np.sum(np.square(solutions), axis=1)",
             why="the penalty is the MEAN square of the parameters; a sum makes it D = 867 times stronger"),
    Mutation(id="weight-decay-one-penalty-for-all", step="1.11", file="controller.py",
             find="np.mean(np.square(solutions), axis=1)",
             replace="np.mean(np.square(solutions))",
             why="each candidate pays for its own weights (axis 1); a mean over the whole population "
                 "charges all the same and changes no ranking"),
    Mutation(id="evolve-reports-fitness", step="1.12", file="controller.py",
             find='return {"mean": float(returns.mean()), "best": float(returns.max()), '
                  '"worst": float(returns.min())}',
             replace='return {"mean": float(fitness.mean()), "best": float(fitness.max()), '
                     '"worst": float(fitness.min())}',
             why="the logs report what the drivers scored, the raw returns; the penalised fitness is for "
                 "cma only"),
    Mutation(id="evolve-tells-fresh-candidates", step="1.12", file="controller.py",
             find="es.tell(solutions, (-fitness).tolist())",
             replace="es.tell(es.ask(), (-fitness).tolist())",
             why="the scores belong to the candidates that earned them; asking again gives new candidates"),
    Mutation(id="evolve-best-worst-swapped", step="1.12", file="controller.py",
             find='"best": float(returns.max()), "worst": float(returns.min())',
             replace='"best": float(returns.min()), "worst": float(returns.max())',
             why="cma's costs are minimised but the returns are maximised: the best candidate has the "
                 "highest return"),
]
