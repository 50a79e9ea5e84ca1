"""Automatic enrollment of EC2 instances into recorded sessions (docs/enrollment.md).

`decisions` holds the pure decisions (plain data in, plain data out); `contracts` the state machine's contract, one
TypedDict per step input and output; `steps` is what each Lambda behind the state machine does, one function per
state: read through `sessionguard.adapters.fleet`, decide, act, count.
"""
