// Frames for raw sockets and BPF_PROG_TEST_RUN (PacketBuilder) are part of this module's API.
@_exported import PacketWire
