#include "db/pq.hpp"

#include <optional>

namespace examstore::db {

pqxx::result exec_dynamic(pqxx::transaction_base& tx, const std::string& sql,
                          const std::vector<std::string>& values) {
#if EXAMSTORE_PQXX_PARAMS_API
  pqxx::params params;
  params.reserve(values.size());
  for (const auto& v : values) params.append(v);
  return tx.exec(sql, params);
#else
  std::vector<const char*> ptrs;
  ptrs.reserve(values.size());
  for (const auto& v : values) ptrs.push_back(v.c_str());
  return tx.exec_params(sql, pqxx::prepare::make_dynamic_params(ptrs));
#endif
}

std::vector<std::string> text_array(const pqxx::field& f) {
  std::vector<std::string> out;
#if EXAMSTORE_PQXX_PARAMS_API
  const auto items = f.as_sql_array<std::optional<std::string>>();
  for (auto item = items.cbegin(); item != items.cend(); ++item) {
    if (*item) out.push_back(**item);
  }
#else
  auto parser = f.as_array();
  for (auto item = parser.get_next(); item.first != pqxx::array_parser::juncture::done;
       item = parser.get_next()) {
    if (item.first == pqxx::array_parser::juncture::string_value) out.push_back(item.second);
  }
#endif
  return out;
}

bool is_libpqxx_error(const std::exception& e) noexcept {
  return dynamic_cast<const pqxx::failure*>(&e) != nullptr ||
         dynamic_cast<const pqxx::usage_error*>(&e) != nullptr ||
         dynamic_cast<const pqxx::conversion_error*>(&e) != nullptr ||
         dynamic_cast<const pqxx::range_error*>(&e) != nullptr ||
         dynamic_cast<const pqxx::argument_error*>(&e) != nullptr ||
         dynamic_cast<const pqxx::internal_error*>(&e) != nullptr;
}

#if EXAMSTORE_PQXX_PARAMS_API
QuietNotices::QuietNotices(pqxx::connection& conn) {
  conn.set_notice_handler([](pqxx::zview) noexcept {});
}
QuietNotices::~QuietNotices() = default;
#else
struct QuietNotices::Handler final : pqxx::errorhandler {
  explicit Handler(pqxx::connection& c) : pqxx::errorhandler(c) {}
  bool operator()(const char*) noexcept override { return false; }
};
QuietNotices::QuietNotices(pqxx::connection& conn) : handler_(std::make_unique<Handler>(conn)) {}
QuietNotices::~QuietNotices() = default;
#endif

}  // namespace examstore::db
