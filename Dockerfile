# Riptide in a container: build stage on Debian 12 with the project's own dependency script,
# runtime stage with only the shared libraries the binary links.
#
#   docker build -t riptide .
#   docker run -d --name riptide -p 9092:9092 -p 9644:9644 -v riptide-data:/var/lib/riptide \
#     -e RIPTIDE_KAFKA_SASL_MECHANISMS=SCRAM-SHA-512 -e RIPTIDE_HTTP_AUTH=basic riptide
#
# /etc/riptide/riptide.toml is the example configuration with data_dir /var/lib/riptide and
# both listeners on 0.0.0.0; RIPTIDE_* environment variables override it. Listeners the
# network can reach must authenticate (users: docker exec riptide riptide user create NAME
# --data-dir /var/lib/riptide --password-file -), or the broker refuses to start unless
# RIPTIDE_SECURITY_ALLOW_UNAUTHENTICATED_NETWORK=true says the network is trusted. The broker tells
# clients to connect to kafka_advertised_host (default 127.0.0.1, right for -p 9092:9092 on
# the same machine); set it to the name clients use to reach the container, e.g.
#   docker run -e RIPTIDE_KAFKA_ADVERTISED_HOST=broker.example.com ...

FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps scripts/install-deps
RUN scripts/install-deps && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DRIPTIDE_BENCH=OFF \
      -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_SYSCONFDIR=/etc \
 && ninja -C build riptide \
 && DESTDIR=/out cmake --install build \
 && sed -i -e 's|^kafka_listen = .*|kafka_listen = "0.0.0.0:9092"|' \
           -e 's|^http_listen = .*|http_listen = "0.0.0.0:9644"|' /out/etc/riptide/riptide.toml \
 && ldd build/riptide | awk '/=> \//{print $3}' | xargs readlink -f | xargs dpkg -S 2>/dev/null \
    | cut -d: -f1 | sort -u > /runtime-packages

FROM debian:12
# The Debian packages of the shared libraries the binary links (listed by the build stage).
COPY --from=build /runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(cat /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
 && useradd --system --user-group --home-dir /var/lib/riptide --shell /usr/sbin/nologin riptide \
 && install -d -o riptide -g riptide -m 0750 /var/lib/riptide
COPY --from=build /out/usr/bin/riptide /usr/bin/riptide
COPY --from=build /out/usr/share/riptide /usr/share/riptide
COPY --from=build /out/usr/share/doc/riptide /usr/share/doc/riptide
COPY --from=build --chown=root:riptide /out/etc/riptide /etc/riptide

USER riptide
WORKDIR /var/lib/riptide
VOLUME /var/lib/riptide
EXPOSE 9092 9644
# SIGTERM: make everything durable, write recovery points, exit 0. Give it time:
#   docker stop --time 120 riptide
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/riptide"]
CMD ["serve", "--config", "/etc/riptide/riptide.toml"]
