# syntax=docker/dockerfile:1
# kefu images: one build, one small image per service (a target each).
#   docker build --target customers -t kefu-customers:0.1.0 .
#   docker build --target sales -t kefu-sales:0.1.0 .        (contracts, complaints,
#   performance alike; k8s/ deploys them as kefu-<service>:<tag>)
# Every image also carries kefuctl: Kubernetes' native gRPC probes cannot speak TLS,
# so k8s/ probes with `kefuctl health` (exec) against 127.0.0.1 and the mounted CA.
# tests/deploy/check_dockerfile.py keeps this file in step with the CMake targets,
# tools/dev/install-deps.sh and the Kubernetes manifests.
ARG DEBIAN_IMAGE=debian:bookworm-20250520-slim

# ---- build: the -dev packages of tools/dev/install-deps.sh ----
FROM ${DEBIAN_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ make cmake pkg-config \
      libgrpc++-dev protobuf-compiler-grpc \
      libprotobuf-dev protobuf-compiler \
      libabsl-dev \
      libmysqlcppconn-dev \
      libjwt-dev \
      prometheus-cpp-dev \
      libgtest-dev libgmock-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build /build -j"$(nproc)" --target \
      kefu-customers kefu-sales kefu-contracts kefu-complaints kefu-performance kefuctl \
 && strip --strip-debug /build/services/*/kefu-* /build/tools/kefuctl/kefuctl

# ---- runtime: shared libraries only, no compiler, an unprivileged user ----
FROM ${DEBIAN_IMAGE} AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc++1.51 libgrpc29 \
      libprotobuf32 \
      libabsl20220623 \
      libmysqlcppconn7v5 libmariadb3 \
      libjwt0 libssl3 \
      libprometheus-cpp-pull1.0 libprometheus-cpp-core1.0 libcivetweb1 \
      tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 kefu \
 && useradd --system --uid 10001 --gid kefu --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin kefu
# Numeric, so that Kubernetes' runAsNonRoot can check it (k8s/ runs as 10001 too).
USER 10001:10001
# Configuration comes from KEFU_* variables and flags (README "Configuration").
ENV KEFU_LISTEN_HOST=0.0.0.0
# The probes' client (and an operator's, through kubectl exec).
COPY --from=build /build/tools/kefuctl/kefuctl /usr/local/bin/kefuctl

FROM runtime AS customers
COPY --from=build /build/services/customers/kefu-customers /usr/local/bin/kefu-customers
EXPOSE 50051 9101
ENTRYPOINT ["/usr/local/bin/kefu-customers"]

FROM runtime AS sales
COPY --from=build /build/services/sales/kefu-sales /usr/local/bin/kefu-sales
EXPOSE 50052 9102
ENTRYPOINT ["/usr/local/bin/kefu-sales"]

FROM runtime AS contracts
COPY --from=build /build/services/contracts/kefu-contracts /usr/local/bin/kefu-contracts
EXPOSE 50053 9103
ENTRYPOINT ["/usr/local/bin/kefu-contracts"]

FROM runtime AS complaints
COPY --from=build /build/services/complaints/kefu-complaints /usr/local/bin/kefu-complaints
EXPOSE 50054 9104
ENTRYPOINT ["/usr/local/bin/kefu-complaints"]

FROM runtime AS performance
COPY --from=build /build/services/performance/kefu-performance /usr/local/bin/kefu-performance
EXPOSE 50055 9105
ENTRYPOINT ["/usr/local/bin/kefu-performance"]
