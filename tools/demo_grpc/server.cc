// The demo gRPC server: demo.Greeter on 127.0.0.1:<port> over h2c (insecure credentials).
//   demo_grpc_server --port 9601 [--max-connection-age-ms N] [--quiet]
// --max-connection-age-ms makes gRPC send GOAWAY to every connection after N ms (with a 30 s
// grace for the calls in flight): how the tests see the gateway handle an upstream GOAWAY.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "demo.grpc.pb.h"

namespace {

bool quiet = false;

void sleepMs(int ms) {
  if (ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
}

class Greeter final : public demo::Greeter::Service {
  grpc::Status SayHello(grpc::ServerContext* ctx, const demo::HelloRequest* req,
                        demo::HelloReply* reply) override {
    if (!quiet) {
      fprintf(stderr, "SayHello(%s) from %s\n", req->name().c_str(), ctx->peer().c_str());
    }
    sleepMs(req->delay_ms());
    if (req->fail_with() != 0) {
      return grpc::Status(static_cast<grpc::StatusCode>(req->fail_with()), "requested");
    }
    reply->set_message("Hello, " + req->name() + "!");
    reply->set_peer(ctx->peer());
    return grpc::Status::OK;
  }

  grpc::Status StreamHellos(grpc::ServerContext* ctx, const demo::HelloRequest* req,
                            grpc::ServerWriter<demo::HelloReply>* writer) override {
    const int count = req->count() > 0 ? req->count() : 3;
    for (int i = 0; i < count && !ctx->IsCancelled(); i++) {
      sleepMs(req->delay_ms());
      demo::HelloReply r;
      r.set_message("Hello #" + std::to_string(i + 1) + ", " + req->name() + "!");
      r.set_peer(ctx->peer());
      if (!writer->Write(r)) {
        break;
      }
    }
    return ctx->IsCancelled() ? grpc::Status::CANCELLED : grpc::Status::OK;
  }

  grpc::Status Echo(grpc::ServerContext*,
                    grpc::ServerReaderWriter<demo::EchoMessage, demo::EchoMessage>* stream)
      override {
    demo::EchoMessage m;
    while (stream->Read(&m)) {
      if (!stream->Write(m)) {
        break;
      }
    }
    return grpc::Status::OK;
  }
};

} // namespace

int main(int argc, char** argv) {
  int port = 9601;
  int max_age_ms = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--max-connection-age-ms") == 0 && i + 1 < argc) {
      max_age_ms = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--quiet") == 0) {
      quiet = true;
    } else {
      fprintf(stderr, "usage: %s [--port N] [--max-connection-age-ms N] [--quiet]\n", argv[0]);
      return 2;
    }
  }
  Greeter service;
  grpc::ServerBuilder builder;
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  builder.AddListeningPort(addr, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  if (max_age_ms > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, max_age_ms);
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 30000);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    fprintf(stderr, "demo_grpc_server: cannot listen on %s\n", addr.c_str());
    return 1;
  }
  fprintf(stderr, "demo_grpc_server listening on %s (demo.Greeter)\n", addr.c_str());
  server->Wait();
  return 0;
}
