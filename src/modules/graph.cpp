#include "modules/graph.hpp"

#include <algorithm>
#include <functional>
#include <queue>

namespace keel::modules {

ModuleGraph::ModuleGraph(std::vector<Manifest> modules) : modules_(std::move(modules)) {
  std::stable_sort(modules_.begin(), modules_.end(),
                   [](const Manifest& a, const Manifest& b) { return a.name < b.name; });
  // One module per name: the first one given wins, as in discovery.
  std::vector<Manifest> unique;
  for (auto& m : modules_) {
    if (!unique.empty() && unique.back().name == m.name) {
      diagnostics_.warning({m.file}, "module \"" + m.name + "\" given twice: using " +
                                         unique.back().dir.string() + ", ignoring " +
                                         m.dir.string());
      continue;
    }
    unique.push_back(std::move(m));
  }
  modules_ = std::move(unique);
  for (size_t i = 0; i < modules_.size(); ++i)
    index_.emplace(modules_[i].name, i);
  dependents_.resize(modules_.size());
  for (size_t i = 0; i < modules_.size(); ++i)
    for (const auto& dep : modules_[i].depends)
      if (auto it = index_.find(dep.name); it != index_.end()) dependents_[it->second].push_back(i);
  check_dependencies();
  compute_order();
}

const Manifest* ModuleGraph::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &modules_[it->second];
}

void ModuleGraph::check_dependencies() {
  for (const auto& m : modules_) {
    for (const auto& dep : m.depends) {
      const Manifest* target = find(dep.name);
      Diagnostic d;
      d.location = dep.location;
      if (!target) {
        d.message = "module \"" + m.name + "\" depends on \"" + dep.name +
                    "\", which is not on the addons path";
        if (!dep.git.empty())
          d.hint = "run `keel module fetch` to clone it from " + dep.git;
        else
          d.hint = "add the directory that holds \"" + dep.name + "\" to --addons-path";
      } else if (!dep.constraint.matches(target->version)) {
        d.message = "module \"" + m.name + "\" needs \"" + dep.name + " " + dep.constraint.text() +
                    "\" but found " + dep.name + " " + target->version.to_string() + " in " +
                    target->dir.string();
        d.hint = "install a matching version of \"" + dep.name + "\" or relax the constraint";
      } else {
        continue;
      }
      problems_[m.name].push_back(d);
      diagnostics_.add(std::move(d));
      broken_.insert(m.name);
    }
  }
}

void ModuleGraph::compute_order() {
  // Kahn's algorithm, always taking the lexically smallest ready module.
  std::vector<size_t> pending(modules_.size(), 0);
  for (size_t i = 0; i < modules_.size(); ++i)
    for (const auto& dep : modules_[i].depends)
      if (index_.count(dep.name)) ++pending[i];
  std::priority_queue<std::string, std::vector<std::string>, std::greater<>> ready;
  for (size_t i = 0; i < modules_.size(); ++i)
    if (pending[i] == 0) ready.push(modules_[i].name);
  std::vector<std::string> all_order;
  while (!ready.empty()) {
    std::string name = ready.top();
    ready.pop();
    all_order.push_back(name);
    for (size_t d : dependents_[index_.at(name)])
      if (--pending[d] == 0) ready.push(modules_[d].name);
  }
  std::vector<std::string> stuck;
  for (size_t i = 0; i < modules_.size(); ++i)
    if (pending[i] > 0) stuck.push_back(modules_[i].name);
  if (!stuck.empty()) report_cycles(stuck);

  // A dependencies-first rank of every module, broken ones included (uninstall needs it):
  // Kahn's order, then the stuck modules (nothing outside them depends on them), each after its
  // dependencies except inside a cycle.
  for (const auto& name : all_order)
    rank_.emplace(name, rank_.size());
  std::set<std::string> in_stuck(stuck.begin(), stuck.end());
  std::set<std::string> visiting;
  std::function<void(const std::string&)> place = [&](const std::string& name) {
    if (!visiting.insert(name).second) return;
    for (const auto& dep : modules_[index_.at(name)].depends)
      if (in_stuck.count(dep.name)) place(dep.name);
    rank_.emplace(name, rank_.size());
  };
  for (const auto& name : stuck)
    place(name);

  // A module is broken when it has a problem or needs (directly or not) a broken module.
  // all_order lists dependencies first, so one pass propagates; stuck ones are broken.
  for (const auto& name : stuck)
    broken_.insert(name);
  for (const auto& name : all_order) {
    const Manifest& m = modules_[index_.at(name)];
    for (const auto& dep : m.depends)
      if (broken_.count(dep.name)) broken_.insert(name);
  }
  for (const auto& name : all_order) {
    if (broken_.count(name)) continue;
    position_[name] = order_.size();
    order_.push_back(name);
  }
}

void ModuleGraph::report_cycles(const std::vector<std::string>& stuck) {
  // Tarjan's strongly connected components over the stuck modules (edges: module -> dep).
  std::set<std::string> in_stuck(stuck.begin(), stuck.end());
  std::map<std::string, int> idx, low;
  std::set<std::string> on_stack;
  std::vector<std::string> stack;
  std::vector<std::vector<std::string>> components;
  int counter = 0;
  std::function<void(const std::string&)> visit = [&](const std::string& v) {
    idx[v] = low[v] = counter++;
    stack.push_back(v);
    on_stack.insert(v);
    for (const auto& dep : modules_[index_.at(v)].depends) {
      const std::string& w = dep.name;
      if (!in_stuck.count(w)) continue;
      if (!idx.count(w)) {
        visit(w);
        low[v] = std::min(low[v], low[w]);
      } else if (on_stack.count(w)) {
        low[v] = std::min(low[v], idx[w]);
      }
    }
    if (low[v] == idx[v]) {
      std::vector<std::string> comp;
      std::string w;
      do {
        w = stack.back();
        stack.pop_back();
        on_stack.erase(w);
        comp.push_back(w);
      } while (w != v);
      std::sort(comp.begin(), comp.end());
      components.push_back(std::move(comp));
    }
  };
  for (const auto& v : stuck)
    if (!idx.count(v)) visit(v);
  std::sort(components.begin(), components.end());

  for (const auto& comp : components) {
    const auto& deps = modules_[index_.at(comp.front())].depends;
    bool self_loop = std::any_of(deps.begin(), deps.end(),
                                 [&](const Dependency& d) { return d.name == comp.front(); });
    if (comp.size() == 1 && !self_loop) continue;  // not in a cycle itself: downstream of one
    // Shortest path back to the smallest member, through members of the component.
    std::set<std::string> members(comp.begin(), comp.end());
    const std::string& start = comp.front();
    std::map<std::string, std::string> parent;
    std::queue<std::string> queue;
    queue.push(start);
    std::string last;
    while (!queue.empty() && last.empty()) {
      std::string v = queue.front();
      queue.pop();
      for (const auto& dep : modules_[index_.at(v)].depends) {
        if (!members.count(dep.name)) continue;
        if (dep.name == start) {
          last = v;
          break;
        }
        if (!parent.count(dep.name)) {
          parent[dep.name] = v;
          queue.push(dep.name);
        }
      }
    }
    std::vector<std::string> path;
    for (std::string v = last; v != start; v = parent.at(v))
      path.push_back(v);
    path.push_back(start);
    std::reverse(path.begin(), path.end());
    std::string text;
    for (const auto& v : path)
      text += v + " -> ";
    text += start;
    Diagnostic d;
    const Manifest& first = modules_[index_.at(start)];
    for (const auto& dep : first.depends)
      if (dep.name == (path.size() > 1 ? path[1] : start)) d.location = dep.location;
    d.message = "dependency cycle: " + text;
    if (path.size() < comp.size()) {
      d.message += " (modules in the cycle:";
      for (const auto& v : comp)
        d.message += " " + v;
      d.message += ")";
    }
    d.hint = "remove one of these dependencies; modules in a cycle cannot be installed";
    for (const auto& v : comp)
      problems_[v].push_back(d);
    diagnostics_.add(std::move(d));
  }
}

std::vector<const Manifest*> ModuleGraph::order() const {
  std::vector<const Manifest*> out;
  for (const auto& name : order_)
    out.push_back(&modules_[index_.at(name)]);
  return out;
}

const Manifest& ModuleGraph::require(const std::string& name) const {
  if (const Manifest* m = find(name)) return *m;
  std::vector<std::string_view> names;
  for (const auto& m : modules_)
    names.push_back(m.name);
  std::string hint = "check the name and the addons path";
  if (auto near = closest_match(name, names)) hint = "did you mean \"" + std::string(*near) + "\"?";
  throw Error("module.unknown", "no module named \"" + name + "\" on the addons path", hint);
}

void ModuleGraph::throw_broken(const std::vector<std::string>& names) const {
  // Collect the root problems of every broken module involved, dependencies included.
  std::vector<Diagnostic> found;
  std::set<std::string> seen;
  std::function<void(const std::string&)> collect = [&](const std::string& name) {
    if (!seen.insert(name).second) return;
    if (auto it = problems_.find(name); it != problems_.end())
      for (const auto& d : it->second)
        if (std::none_of(found.begin(), found.end(),
                         [&](const Diagnostic& f) { return f.message == d.message; }))
          found.push_back(d);
    if (const Manifest* m = find(name))
      for (const auto& dep : m->depends)
        if (broken_.count(dep.name)) collect(dep.name);
  };
  for (const auto& n : names)
    collect(n);
  std::string list;
  for (const auto& n : names)
    list += (list.empty() ? "" : ", ") + n;
  throw ValidationError("module.unresolvable", "cannot resolve the dependencies of " + list,
                        std::move(found));
}

std::vector<const Manifest*> ModuleGraph::install_closure(
    const std::vector<std::string>& names, const std::set<std::string>& installed) const {
  std::set<std::string> closure;
  std::vector<std::string> broken_requested;
  std::function<void(const std::string&)> add = [&](const std::string& name) {
    if (installed.count(name) || !closure.insert(name).second) return;
    for (const auto& dep : require(name).depends)
      if (find(dep.name)) add(dep.name);
  };
  for (const auto& name : names)
    require(name);
  for (const auto& name : names)
    add(name);
  // auto_install glue joins once all its dependencies are (being) installed.
  bool changed = true;
  while (changed) {
    changed = false;
    for (const auto& name : order_) {
      const Manifest& m = modules_[index_.at(name)];
      if (!m.auto_install || closure.count(name) || installed.count(name)) continue;
      bool all = !m.depends.empty(), any_new = false;
      for (const auto& dep : m.depends) {
        bool in_closure = closure.count(dep.name) > 0;
        all = all && (in_closure || installed.count(dep.name));
        any_new = any_new || in_closure;
      }
      if (all && any_new) {
        closure.insert(name);
        changed = true;
      }
    }
  }
  std::vector<std::string> broken;
  for (const auto& name : closure)
    if (broken_.count(name)) broken.push_back(name);
  if (!broken.empty()) throw_broken(broken);
  std::vector<const Manifest*> out;
  for (const auto& name : closure)
    out.push_back(&modules_[index_.at(name)]);
  std::sort(out.begin(), out.end(), [&](const Manifest* a, const Manifest* b) {
    return position_.at(a->name) < position_.at(b->name);
  });
  return out;
}

std::vector<const Manifest*> ModuleGraph::uninstall_closure(
    const std::vector<std::string>& names, const std::set<std::string>& installed) const {
  std::set<std::string> closure;
  for (const auto& name : names) {
    const Manifest& m = require(name);
    if (m.core)
      throw Error("module.core", "\"" + name + "\" is a core module and cannot be uninstalled",
                  "core modules ship with Keel; uninstall the custom modules that use it instead");
    if (!installed.count(name))
      throw Error("module.not_installed", "module \"" + name + "\" is not installed");
  }
  std::function<void(const std::string&)> add = [&](const std::string& name) {
    if (!closure.insert(name).second) return;
    for (size_t d : dependents_[index_.at(name)])
      if (installed.count(modules_[d].name)) add(modules_[d].name);
  };
  for (const auto& name : names)
    add(name);
  std::vector<const Manifest*> out;
  for (const auto& name : closure)
    out.push_back(&modules_[index_.at(name)]);
  for (const auto* m : out) {
    if (!m->core) continue;
    std::string list;
    for (const auto& n : names)
      list += (list.empty() ? "" : ", ") + n;
    throw Error("module.core",
                "uninstalling " + list + " would also uninstall the core module \"" + m->name +
                    "\", which depends on it",
                "core modules ship with Keel and cannot be uninstalled");
  }
  // Dependents first: the reverse of a dependencies-first order of every module (broken ones
  // included: nothing healthy depends on them, so they come first).
  std::sort(out.begin(), out.end(), [&](const Manifest* a, const Manifest* b) {
    return rank_.at(a->name) > rank_.at(b->name);
  });
  return out;
}

std::vector<const Manifest*> ModuleGraph::dependents(std::string_view name) const {
  std::vector<const Manifest*> out;
  auto it = index_.find(name);
  if (it == index_.end()) return out;
  for (size_t d : dependents_[it->second])
    out.push_back(&modules_[d]);
  std::sort(out.begin(), out.end(),
            [](const Manifest* a, const Manifest* b) { return a->name < b->name; });
  return out;
}

}  // namespace keel::modules
