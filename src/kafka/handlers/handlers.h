#pragma once
// One handler per Kafka API, each in its own file named after the API.

#include "auth/scram.h"
#include "kafka/server/request_context.h"

namespace kafka::handlers {

net::task<handler_result> api_versions(request_context& ctx);
net::task<handler_result> metadata(request_context& ctx);
net::task<handler_result> produce(request_context& ctx);
net::task<handler_result> fetch(request_context& ctx);
net::task<handler_result> list_offsets(request_context& ctx);
net::task<handler_result> create_topics(request_context& ctx);
net::task<handler_result> delete_topics(request_context& ctx);
net::task<handler_result> describe_configs(request_context& ctx);
net::task<handler_result> alter_configs(request_context& ctx);
net::task<handler_result> create_partitions(request_context& ctx);
net::task<handler_result> incremental_alter_configs(request_context& ctx);
net::task<handler_result> describe_cluster(request_context& ctx);
net::task<handler_result> find_coordinator(request_context& ctx);
net::task<handler_result> join_group(request_context& ctx);
net::task<handler_result> sync_group(request_context& ctx);
net::task<handler_result> heartbeat(request_context& ctx);
net::task<handler_result> leave_group(request_context& ctx);
net::task<handler_result> offset_commit(request_context& ctx);
net::task<handler_result> offset_fetch(request_context& ctx);
net::task<handler_result> list_groups(request_context& ctx);
net::task<handler_result> describe_groups(request_context& ctx);
net::task<handler_result> delete_groups(request_context& ctx);
net::task<handler_result> offset_delete(request_context& ctx);
net::task<handler_result> init_producer_id(request_context& ctx);
net::task<handler_result> delete_records(request_context& ctx);
net::task<handler_result> offset_for_leader_epoch(request_context& ctx);
net::task<handler_result> alter_replica_log_dirs(request_context& ctx);
net::task<handler_result> describe_log_dirs(request_context& ctx);
net::task<handler_result> elect_leaders(request_context& ctx);
net::task<handler_result> describe_producers(request_context& ctx);
net::task<handler_result> describe_user_scram_credentials(request_context& ctx);
net::task<handler_result> alter_user_scram_credentials(request_context& ctx);
// Run by the connection in line, not beside other requests: they change who it is.
net::task<handler_result> sasl_handshake(request_context& ctx);
net::task<handler_result> sasl_authenticate(request_context& ctx);
// Counts (and logs, when it failed) the end of a SASL exchange.
void count_sasl_outcome(const sasl_session& s, const auth::sasl_step& step,
                        const std::string& peer);

// On the calling shard: answers every Fetch long poll now waiting, and lets none wait
// from now on (the server is stopping).
void end_long_polls();

// The ApiVersions answer to a version this broker does not support: a v0-format body
// with UNSUPPORTED_VERSION and the supported list (clients retry with a lower version).
base::iobuf api_versions_unsupported();

}  // namespace kafka::handlers
