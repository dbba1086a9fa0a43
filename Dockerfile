# kafka-proxy image, used by docker-compose.yml.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p kafka-proxy

FROM debian:bookworm-slim
COPY --from=build /src/target/release/kafka-proxy /usr/local/bin/kafka-proxy
EXPOSE 8082
ENTRYPOINT ["kafka-proxy"]
