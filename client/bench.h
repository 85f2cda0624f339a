// swapserve-cli bench: a load generator for Predict over gRPC or REST, with the
// transport floor in the same binary.
//
// Closed loop (--concurrency N clients, each sending its next call when the
// last is answered) or open loop (--rate QPS: Poisson arrivals served by up to
// --concurrency clients; a call's latency counts from its arrival, so queueing
// shows instead of hiding). Each client has its own connection; gRPC clients
// are driven asynchronously from one thread per core (so the generator's own
// threads do not crowd the daemon), REST clients block on a thread each. The
// payload is `predict`'s --input JSON. Reports p50/p90/p99/p99.9/max, calls/s, errors by
// gRPC code, and the responses per checkpoint (trailer) for each second;
// --json prints one JSON object instead; --samples FILE writes every measured
// call's latency as CSV (call,latency_us; call is predict or floor).
//
// --rest HOST:PORT sends the same calls to TF Serving's REST predict route
// instead (columnar JSON body, one keep-alive connection per client; errors by
// HTTP status).
//
// --floor runs the same load twice, Predict then swapserve.bench.v1.Echo (the
// same PredictRequest bytes; the server answers its size and runs no model,
// `swapserve --enable_echo`), and reports Predict ÷ floor from that one run.
#ifndef SWAPSERVE_CLIENT_BENCH_H_
#define SWAPSERVE_CLIENT_BENCH_H_

#include <string>
#include <vector>

namespace swapserve::cli {

// Exit code: 0, 1 when no call succeeded, 2 for usage errors.
int RunBench(const std::vector<std::string>& words);

extern const char kBenchUsage[];

}  // namespace swapserve::cli

#endif  // SWAPSERVE_CLIENT_BENCH_H_
