// Calls the demo gRPC service (demo.Greeter) through a target, e.g. the gateway:
//   demo_grpc_client --target 127.0.0.1:8080 hello alice
//   demo_grpc_client --target 127.0.0.1:8080 stream alice 3
//   demo_grpc_client --target 127.0.0.1:8080 echo one two three
// Options before the command: --timeout-ms N (the call's deadline, sent as grpc-timeout),
// --fail-with CODE (hello: ask the server for that status). Prints each reply on a line and
// "status: CODE MESSAGE" last; exits 0 when the status is OK, 1 otherwise.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "demo.grpc.pb.h"

namespace {

int finish(const grpc::Status& s) {
  printf("status: %d %s\n", static_cast<int>(s.error_code()), s.error_message().c_str());
  return s.ok() ? 0 : 1;
}

int usage(const char* argv0) {
  fprintf(stderr,
          "usage: %s --target HOST:PORT [--timeout-ms N] [--fail-with CODE] "
          "(hello NAME | stream NAME [COUNT] | echo TEXT...)\n",
          argv0);
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  std::string target = "127.0.0.1:8080";
  int timeout_ms = 10000;
  int fail_with = 0;
  int i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (i + 1 >= argc) {
      return usage(argv[0]);
    }
    if (strcmp(argv[i], "--target") == 0) {
      target = argv[++i];
    } else if (strcmp(argv[i], "--timeout-ms") == 0) {
      timeout_ms = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--fail-with") == 0) {
      fail_with = atoi(argv[++i]);
    } else {
      return usage(argv[0]);
    }
  }
  if (i >= argc) {
    return usage(argv[0]);
  }
  const std::string cmd = argv[i++];
  std::vector<std::string> args(argv + i, argv + argc);
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto stub = demo::Greeter::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));

  if (cmd == "hello" && args.size() == 1) {
    demo::HelloRequest req;
    req.set_name(args[0]);
    req.set_fail_with(fail_with);
    demo::HelloReply reply;
    grpc::Status s = stub->SayHello(&ctx, req, &reply);
    if (s.ok()) {
      printf("%s\n", reply.message().c_str());
    }
    return finish(s);
  }
  if (cmd == "stream" && (args.size() == 1 || args.size() == 2)) {
    demo::HelloRequest req;
    req.set_name(args[0]);
    req.set_count(args.size() == 2 ? atoi(args[1].c_str()) : 3);
    auto reader = stub->StreamHellos(&ctx, req);
    demo::HelloReply reply;
    while (reader->Read(&reply)) {
      printf("%s\n", reply.message().c_str());
    }
    return finish(reader->Finish());
  }
  if (cmd == "echo" && !args.empty()) {
    auto stream = stub->Echo(&ctx);
    demo::EchoMessage m;
    // One message out, its echo back, before the next: shows both directions streaming.
    for (const std::string& text : args) {
      m.set_text(text);
      if (!stream->Write(m) || !stream->Read(&m)) {
        break;
      }
      printf("%s\n", m.text().c_str());
    }
    stream->WritesDone();
    while (stream->Read(&m)) {
      printf("%s\n", m.text().c_str());
    }
    return finish(stream->Finish());
  }
  return usage(argv[0]);
}
