"""``workbench import``: a model trained elsewhere (a saved state dict of nn.LSTM/nn.GRU layers and an
nn.Linear head) as a model file."""

from __future__ import annotations

from pathlib import Path

from workbench.commands.common import console, levels


def cmd_import(args) -> int:
    from workbench.pipeline.training import import_torch_state

    path, acc = import_torch_state(Path(args.state), levels(args.cell), args.window, args.k, args.dataset,
                                   Path(args.out))
    tail = f"; test accuracy (float, torch): {acc:.3f}" if acc is not None else \
        " (no --dataset: run and --quant q15 will need one)"
    console().print(f"model written to [bold]{path}[/]{tail}")
    return 0


def register(sub) -> None:
    s = sub.add_parser("import", help="a model trained elsewhere (torch state dict of LSTM/GRU + Linear) as a "
                                      "model file",
                       description="Import torch.save(module.state_dict()) of one nn.LSTM or nn.GRU layer and an "
                                   "nn.Linear head on its last output (a single-level RNN), or of two such layers "
                                   "and a head (a ShaRNN: the lower layer on bricks of --k steps, the upper over "
                                   "the bricks). One layer each (num_layers=1), one direction; batch_first either "
                                   "way. The input is taken as it is (no normalisation).")
    s.add_argument("state", metavar="STATE.pt", help="the saved state dict")
    s.add_argument("--cell", required=True, help="lstm or gru; two layers: lower,upper (e.g. lstm,gru)")
    s.add_argument("--window", type=int, help="window length T in steps [the --dataset's]")
    s.add_argument("--k", type=int, help="ShaRNN brick length (two layers); must divide T")
    s.add_argument("--dataset", help="data the model classifies (name, .npz/.csv file or WAV folder): checked "
                                     "against the model, recorded in the model file, test accuracy reported")
    s.add_argument("--out", required=True, help="model file to write (.wbm)")
    s.set_defaults(func=cmd_import)
