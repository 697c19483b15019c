# torchrun from Debian bookworm's python3-torch 1.13 under Python 3.11: its
# Std.from_str looks values up by iterating the IntFlag, which since 3.11 no
# longer yields Std.NONE, so every launch crashes before starting a worker.
# This replaces that one lookup (Std(int(v))) and runs torchrun unchanged.
# Usage: /usr/bin/python3 torchrun-py311.py [torchrun arguments]
import re
import sys

from torch.distributed.elastic.multiprocessing import api


def from_str(vm):
    if re.fullmatch(r"\d", vm):
        return api.Std(int(vm))
    return {int(i): api.Std(int(v)) for i, v in (m.split(":") for m in vm.split(","))}


api.Std.from_str = staticmethod(from_str)

from torch.distributed.run import main  # noqa: E402

sys.exit(main())
