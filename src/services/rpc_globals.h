/* The rpc.* globals (rpc_globals.c): a session process opens client sessions to further
 * servers (rpc.Connect, multi-hop) or a local one (rpc.LocalSession) and hands them out as
 * Modules of kind "rpc", as TVM's runtime does. The globals register themselves in the runtime
 * registry; nothing else calls into this file. */
#ifndef TVMRPC_RPC_GLOBALS_H
#define TVMRPC_RPC_GLOBALS_H

/* Largest tensor copied between this server and a far one for one call argument or result. */
#define RPC_GLOBALS_MAX_TENSOR_BYTES ((unsigned long long)1 << 30)

#endif
