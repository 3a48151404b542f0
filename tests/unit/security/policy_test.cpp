// Security files → security::Policy: roles and their closure, access rows, record rules, and
// every validation error with its file, line and column, all in one pass.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "modules/discovery.hpp"
#include "modules/graph.hpp"
#include "query/filter.hpp"
#include "schema/registry.hpp"
#include "support/addon_tree.hpp"

namespace keel::security {
namespace {

using Names = std::vector<std::string>;

const char* kEntities = R"(entities:
  team:
    fields:
      name: {type: string}
  task:
    fields:
      name:  {type: string}
      team:  {type: many2one, target: team}
      role:  {type: string}
      notes: {type: text, roles: [work.lead]}
)";

class PolicyTest : public ::testing::Test {
 protected:
  // Module `work` with these security files (file name -> YAML), plus `other` that `work` does
  // not depend on.
  std::shared_ptr<const schema::Registry> build(
      const std::vector<std::pair<std::string, std::string>>& files) {
    tree_.write("other/manifest.yaml", "name: other\nversion: 1.0.0\nsecurity: [security.yaml]\n");
    tree_.write("other/security.yaml", "roles: {boss: {}}\n");
    tree_.write("work/manifest.yaml",
                "name: work\nversion: 1.0.0\nentities: [entities.yaml]\nsecurity: "
                "[security/*.yaml]\n");
    tree_.write("work/entities.yaml", kEntities);
    for (const auto& [name, text] : files)
      tree_.write("work/security/" + name, text);
    auto found = modules::discover({tree_.path()});
    EXPECT_FALSE(found.diagnostics.has_errors());
    graph_ = std::make_unique<modules::ModuleGraph>(std::move(found.modules));
    diagnostics_ = Diagnostics();
    auto registry = schema::Registry::build(graph_->order(), diagnostics_);
    policy_ = query::load_policy(graph_->order(), *registry, diagnostics_);
    return registry;
  }

  // Every diagnostic as "file:line:col: message" with the file relative to the module.
  Names errors() const {
    Names out;
    for (const auto& d : diagnostics_.items()) {
      std::string where = d.location.to_string();
      auto at = where.find("/work/");
      out.push_back((at == std::string::npos ? where : where.substr(at + 6)) + ": " + d.message);
    }
    return out;
  }

  testing::AddonTree tree_;
  std::unique_ptr<modules::ModuleGraph> graph_;
  Diagnostics diagnostics_;
  std::shared_ptr<const Policy> policy_;
};

TEST_F(PolicyTest, RolesAccessAndRulesLoad) {
  auto registry = build({{"a.yaml", R"(roles:
  member: {label: Member}
  lead:   {label: Lead, implies: [member]}
  chief:  {implies: [work.lead]}
access:
  - {entity: task, role: member, read: true, create: true}
  - {entity: task, role: work.lead, read: true, create: true, update: true, delete: true}
rules:
  - {entity: task, role: member, operations: [read, update], filter: {team.name: {eq: x}}}
  - {entity: task, filter: {name: {ne: null}}}
)"}});
  ASSERT_TRUE(errors().empty()) << errors().front();
  const Policy& p = *policy_;
  EXPECT_EQ(p.roles().size(), 4u);  // other.boss too
  EXPECT_EQ(p.role("work.lead")->label, "Lead");
  EXPECT_EQ(p.closure({"work.chief"}), (Names{"work.chief", "work.lead", "work.member"}));
  EXPECT_EQ(p.closure({"gone.role", "work.member"}), (Names{"work.member"}));

  Context member = p.context(7, "m", {"work.member"});
  EXPECT_FALSE(member.admin);
  EXPECT_TRUE(p.allowed(member, "task", Operation::kCreate));
  EXPECT_FALSE(p.allowed(member, "task", Operation::kDelete));
  EXPECT_FALSE(p.allowed(member, "team", Operation::kRead));  // no row, no access
  Context chief = p.context(8, "c", {"work.chief"});
  EXPECT_EQ(p.granting_roles(chief, "task", Operation::kRead), (Names{"work.lead", "work.member"}));
  EXPECT_EQ(p.granting_roles(chief, "task", Operation::kDelete), (Names{"work.lead"}));
  EXPECT_EQ(p.rules_for("task", Operation::kRead).size(), 2u);
  EXPECT_EQ(p.rules_for("task", Operation::kCreate).size(), 1u);  // the global one
  EXPECT_EQ(p.rules()[1].role, "");

  Context admin = p.context(1, "admin", {"base.admin"});  // unknown here: not an admin
  EXPECT_FALSE(admin.admin);
  EXPECT_TRUE(Context::system().admin);
  EXPECT_TRUE(p.allowed(Context::system(), "team", Operation::kDelete));
  EXPECT_TRUE(p.granting_roles(Context::system(), "task", Operation::kRead).empty());
}

TEST_F(PolicyTest, EveryMistakeIsReportedWithItsPlaceInOnePass) {
  build({{"bad.yaml", R"(roles:
  member: {label: Member, implies: [nobody]}
  Bad-Name: {}
  lead: {colour: red}
access:
  - {entity: tusk, role: member, read: true}
  - {entity: task, role: stranger, read: true}
  - {entity: task, role: other.boss, read: true}
  - {entity: task, role: member, reed: true}
rules:
  - {entity: task, role: member, operations: [read, fly], filter: {name: x}}
  - {entity: task, role: member, filter: {nmae: x}}
  - {entity: task, role: member}
  - {entity: task, filter: {name: {eq: $user.nope}}}
)"}});
  Names expected = {
      "security/bad.yaml:3:3: bad role name \"Bad-Name\"",
      "security/bad.yaml:4:10: unknown key \"colour\" in role \"work.lead\"",
      "security/bad.yaml:6:14: unknown entity \"tusk\"",
      "security/bad.yaml:7:26: unknown role \"work.stranger\"",
      "security/bad.yaml:8:26: role \"other.boss\" belongs to module other, which work does not "
      "depend on",
      "security/bad.yaml:9:34: unknown key \"reed\" in access row",
      "security/bad.yaml:11:53: unknown operation \"fly\"",
      "security/bad.yaml:12:42: invalid rule filter: unknown field \"nmae\" of \"task\" in filter",
      "security/bad.yaml:13:5: a rule needs a filter: a map in the API's filter language",
      "security/bad.yaml:14:28: invalid rule filter: unknown variable \"$user.nope\" in \"name\" "
      "eq",
      "security/bad.yaml:2:37: unknown role \"work.nobody\"",
  };
  Names got = errors();
  for (const auto& e : expected) {
    bool found = false;
    for (const auto& g : got)
      found = found || g.rfind(e, 0) == 0;
    EXPECT_TRUE(found) << "missing: " << e;
  }
  EXPECT_EQ(got.size(), expected.size()) << ::testing::PrintToString(got);
}

TEST_F(PolicyTest, UserRolesVariableComparesWithTheCallersRoles) {
  auto registry = build({{"a.yaml", "roles: {member: {}, lead: {implies: [member]}}\n"}});
  ASSERT_TRUE(errors().empty()) << errors().front();
  Context lead = policy_->context(3, "l", {"work.lead"});
  query::QueryScope scope(*registry, *policy_, *registry->entity("task"), lead);
  EXPECT_EQ(query::compile_filter(R"({"role": {"in": "$user.roles"}})", scope),
            "t.\"role\"::text = ANY($1::text[])");
  EXPECT_EQ(scope.params().values()[0], R"({"work.lead","work.member"})");
  query::QueryScope other(*registry, *policy_, *registry->entity("task"), lead);
  EXPECT_THROW(query::compile_filter(R"({"team": {"in": "$user.roles"}})", other), ApiError);
}

}  // namespace
}  // namespace keel::security
