// What the two ways of waiting for a client's next request cost on this machine (issue 18):
// a recv that finds nothing (Asio's speculative read in async_read_some) and an
// epoll_ctl(EPOLL_CTL_MOD) (what Asio's async_wait does to arm the wait), each a million times
// on an idle loopback TCP connection registered edge-triggered as Asio registers sockets.
// Usage: syscall_cost [ROUNDS]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace {

double ns_per_call(auto&& call, int n) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i)
    call();
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
             .count() /
         n;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 3;
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  int client = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listener < 0 || client < 0 ||
      ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size) != 0 ||
      ::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::perror("loopback connection");
    return 1;
  }
  int server = ::accept(listener, nullptr, nullptr);
  int poller = ::epoll_create1(0);
  epoll_event event{};
  event.events = EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLPRI | EPOLLET;
  if (server < 0 || poller < 0 || ::epoll_ctl(poller, EPOLL_CTL_ADD, server, &event) != 0) {
    std::perror("epoll");
    return 1;
  }
  char buffer[4096];
  constexpr int kCalls = 1000000;
  for (int r = 0; r < rounds; ++r) {
    double recv_ns =
        ns_per_call([&] { return ::recv(server, buffer, sizeof buffer, MSG_DONTWAIT); }, kCalls);
    double mod_ns =
        ns_per_call([&] { return ::epoll_ctl(poller, EPOLL_CTL_MOD, server, &event); }, kCalls);
    std::printf("recv finding nothing %.0f ns, epoll_ctl(EPOLL_CTL_MOD) %.0f ns\n", recv_ns,
                mod_ns);
  }
  ::close(server);
  ::close(client);
  ::close(listener);
  ::close(poller);
  return 0;
}
