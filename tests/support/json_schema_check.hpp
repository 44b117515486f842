// A small JSON Schema (2020-12) checker for the subset labyrinth-report.schema.json uses:
// $ref to #/$defs, type, const, enum, properties, required, additionalProperties, items,
// minimum, maximum, oneOf, allOf. Enough to test the reports without a Python dependency;
// the tests also run python3-jsonschema on the same documents when it is installed.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace labyrinth::testing {

class SchemaChecker {
 public:
  explicit SchemaChecker(nlohmann::json schema) : root_(std::move(schema)) {}

  // Empty when the document conforms; else one line per problem ("path: what").
  std::vector<std::string> check(const nlohmann::json& doc) const {
    std::vector<std::string> errors;
    validate(root_, doc, "$", errors);
    return errors;
  }

 private:
  const nlohmann::json& resolve(const nlohmann::json& schema) const {
    if (schema.is_object() && schema.contains("$ref")) {
      const std::string ref = schema["$ref"];
      const std::string prefix = "#/$defs/";
      if (ref.rfind(prefix, 0) == 0) return resolve(root_["$defs"][ref.substr(prefix.size())]);
    }
    return schema;
  }

  static bool is_type(const nlohmann::json& v, const std::string& t) {
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "boolean") return v.is_boolean();
    if (t == "null") return v.is_null();
    if (t == "integer") return v.is_number_integer();
    if (t == "number") return v.is_number();
    return false;
  }

  void validate(const nlohmann::json& s_in, const nlohmann::json& v, const std::string& path,
                std::vector<std::string>& errors) const {
    const nlohmann::json& s = resolve(s_in);
    if (s.is_boolean()) {
      if (!s.get<bool>()) errors.push_back(path + ": not allowed");
      return;
    }
    if (s.contains("type")) {
      bool ok = false;
      if (s["type"].is_array()) {
        for (const auto& t : s["type"]) ok = ok || is_type(v, t.get<std::string>());
      } else {
        ok = is_type(v, s["type"].get<std::string>());
      }
      if (!ok) {
        errors.push_back(path + ": expected " + s["type"].dump() + ", got " + v.dump().substr(0, 60));
        return;
      }
    }
    if (s.contains("const") && v != s["const"]) errors.push_back(path + ": expected " + s["const"].dump());
    if (s.contains("enum")) {
      bool found = false;
      for (const auto& e : s["enum"]) found = found || e == v;
      if (!found) errors.push_back(path + ": " + v.dump() + " not in " + s["enum"].dump());
    }
    if (v.is_number()) {
      if (s.contains("minimum") && v.get<double>() < s["minimum"].get<double>()) errors.push_back(path + ": below minimum");
      if (s.contains("maximum") && v.get<double>() > s["maximum"].get<double>()) errors.push_back(path + ": above maximum");
    }
    if (v.is_object()) {
      if (s.contains("required")) {
        for (const auto& k : s["required"]) {
          if (!v.contains(k.get<std::string>())) errors.push_back(path + ": missing " + k.get<std::string>());
        }
      }
      for (const auto& [k, item] : v.items()) {
        if (s.contains("properties") && s["properties"].contains(k)) {
          validate(s["properties"][k], item, path + "." + k, errors);
        } else if (s.contains("additionalProperties")) {
          validate(s["additionalProperties"], item, path + "." + k, errors);
        }
      }
    }
    if (v.is_array() && s.contains("items")) {
      for (std::size_t i = 0; i < v.size(); ++i) validate(s["items"], v[i], path + "[" + std::to_string(i) + "]", errors);
    }
    if (s.contains("allOf")) {
      for (const auto& sub : s["allOf"]) validate(sub, v, path, errors);
    }
    if (s.contains("oneOf")) {
      int matches = 0;
      std::vector<std::string> first;
      for (const auto& sub : s["oneOf"]) {
        std::vector<std::string> e;
        validate(sub, v, path, e);
        if (e.empty()) ++matches;
        if (first.empty() || (!e.empty() && e.size() < first.size())) first = e;
      }
      if (matches != 1) {
        errors.push_back(path + ": matches " + std::to_string(matches) + " of oneOf");
        if (matches == 0) errors.insert(errors.end(), first.begin(), first.end());
      }
    }
  }

  nlohmann::json root_;
};

}  // namespace labyrinth::testing
