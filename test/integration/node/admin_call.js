#!/usr/bin/env node
// An independent gRPC client (grpc-js + proto-loader, loading the .proto files from api/) for the
// integration tests. Prints the results as JSON on stdout.
//
//   node admin_call.js ADDRESS SERVICE.METHOD [REQUEST_JSON] [--token TOKEN]
//     one call, e.g. node admin_call.js 127.0.0.1:9902 ProxyAdmin.Explain '{"url": "http://h/"}'
//   node admin_call.js ADDRESS --batch < CALLS_JSON
//     calls in order, one process: [{"method": "ProxyAdmin.GetConfig", "request": {},
//     "token": "..."}, ...] -> a JSON array of results
//
// A result is {"ok": true, "response": {...}} or {"ok": false, "code": 16,
// "status": "UNAUTHENTICATED", "details": "..."}. Exit 0 either way (the caller asserts); 2 on
// usage errors.
'use strict';
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const API = path.resolve(__dirname, '..', '..', '..', 'api');

function usage(message) {
  process.stderr.write(`${message}\nusage: admin_call.js ADDRESS SERVICE.METHOD [REQUEST_JSON] ` +
                       '[--token T] | admin_call.js ADDRESS --batch < CALLS_JSON\n');
  process.exit(2);
}

const pkg = grpc.loadPackageDefinition(protoLoader.loadSync('gateway/v1/admin.proto', {
  includeDirs: [API],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
})).gateway.v1;

const clients = {};
function call(address, target, request, token) {
  const [serviceName, method] = target.split('.');
  const Service = pkg[serviceName];
  if (!Service || typeof Service.service[method] !== 'object') {
    usage(`unknown method ${target}`);
  }
  if (!clients[serviceName]) {
    clients[serviceName] = new Service(address, grpc.credentials.createInsecure());
  }
  const md = new grpc.Metadata();
  if (token !== undefined && token !== null) {
    md.set('authorization', `Bearer ${token}`);
  }
  const deadline = new Date(Date.now() + 10000);
  return new Promise((resolve) => {
    clients[serviceName][method](request || {}, md, { deadline }, (err, response) => {
      resolve(err ? { ok: false, code: err.code, status: grpc.status[err.code], details: err.details }
                  : { ok: true, response });
    });
  });
}

async function main(argv) {
  let token = null;
  const args = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--token') {
      token = argv[++i];
    } else {
      args.push(argv[i]);
    }
  }
  if (args.length < 2) {
    usage('missing arguments');
  }
  const address = args[0];
  let out;
  if (args[1] === '--batch') {
    const calls = JSON.parse(fs.readFileSync(0, 'utf8'));
    out = [];
    for (const c of calls) {
      out.push(await call(address, c.method, c.request, c.token));
    }
  } else {
    out = await call(address, args[1], args[2] ? JSON.parse(args[2]) : {}, token);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
  for (const c of Object.values(clients)) {
    c.close();
  }
}

main(process.argv.slice(2));
