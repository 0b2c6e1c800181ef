/* The file names of an etcd data dir's member/snap and member/wal folders. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "src/etcdimport/etcdimport_int.h"

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **eimp_dir_names(DIR *d, const char *suffix, size_t exact_len, size_t *n_out)
{
    size_t sl = strlen(suffix);
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l <= sl || (exact_len != 0 && l != exact_len) ||
            strcmp(de->d_name + l - sl, suffix) != 0)
            continue;
        names = realloc(names, (n + 1) * sizeof(*names));
        if (names == NULL || (names[n] = strdup(de->d_name)) == NULL)
            abort();
        n++;
    }
    if (n > 1) /* qsort's array may not be NULL, which it is with no file */
        qsort(names, n, sizeof(*names), cmp_names);
    *n_out = n;
    return names;
}

void eimp_dir_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
