/* curl_ceiling.c - how many requests per second libcurl alone can make.
 *
 * The benchmark's reference for the libcurl adapter: the same number of
 * keep-alive connections, driven the cheapest way libcurl offers
 * (curl_multi_perform + curl_multi_poll, no event loop of ours, bodies
 * discarded, nothing checked or stored). What sbx test reaches with its
 * libcurl adapter, read against this, tells how much is the harness and
 * how much is libcurl.
 *
 * Usage: sbx-bench-curl-ceiling URL CONNECTIONS SECONDS
 * Prints "requests N seconds S rate R".
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

static size_t discard(char *p, size_t size, size_t n, void *arg) {
  (void)p;
  (void)arg;
  return size * n;
}

int main(int argc, char **argv) {
  CURLM *multi;
  CURL **easy;
  long conns, secs, i;
  uint64_t done = 0, start, end;
  int running = 0;

  if (argc != 4 || (conns = strtol(argv[2], NULL, 10)) <= 0 ||
      conns > 10000 || (secs = strtol(argv[3], NULL, 10)) <= 0) {
    fprintf(stderr, "usage: sbx-bench-curl-ceiling URL CONNECTIONS SECONDS\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  multi = curl_multi_init();
  easy = calloc((size_t)conns, sizeof(*easy));
  if (multi == NULL || easy == NULL)
    return 3;
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, conns);
  for (i = 0; i < conns; i++) {
    easy[i] = curl_easy_init();
    if (easy[i] == NULL)
      return 3;
    curl_easy_setopt(easy[i], CURLOPT_URL, argv[1]);
    curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(easy[i], CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy[i], CURLOPT_PROXY, "");
    curl_multi_add_handle(multi, easy[i]);
  }
  start = uv_hrtime();
  end = start + (uint64_t)secs * 1000000000u;
  while (uv_hrtime() < end) {
    CURLMsg *msg;
    int left;
    curl_multi_perform(multi, &running);
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      if (msg->data.result != CURLE_OK) {
        fprintf(stderr, "transfer failed: %s\n",
                curl_easy_strerror(msg->data.result));
        return 3;
      }
      done++;
      curl_multi_remove_handle(multi, msg->easy_handle);
      curl_multi_add_handle(multi, msg->easy_handle);
    }
    curl_multi_poll(multi, NULL, 0, 100, NULL);
  }
  printf("requests %llu seconds %.3f rate %.1f\n", (unsigned long long)done,
         (double)(uv_hrtime() - start) / 1e9,
         (double)done * 1e9 / (double)(uv_hrtime() - start));
  for (i = 0; i < conns; i++) {
    curl_multi_remove_handle(multi, easy[i]);
    curl_easy_cleanup(easy[i]);
  }
  free(easy);
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  return 0;
}
