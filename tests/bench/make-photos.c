/* SPDX-License-Identifier: MIT */
/*
 * make-photos: write N photo-like JPEGs for the benchmarks and the demo.
 *
 *   make-photos DIR COUNT WIDTH HEIGHT [FIRST]
 *
 * writes DIR/photo-NNNN.jpg for NNNN from FIRST (default 0) to COUNT - 1,
 * so that several processes can share a large set.
 * Each image is a colour gradient with fine-grained noise in every band, so
 * JPEG sizes and decode costs are those of real photos (a flat image would
 * compress to nothing). Deterministic: image i is the same on
 * every run.
 */

#include <stdio.h>
#include <stdlib.h>
#include <vips/vips.h>

static int make_one(const char *path, int width, int height, int seed) {
        VipsImage *base = vips_image_new_memory(), *t[12] = {};
        int r = -1;

        /* x, y ramps -> three colour channels with different phase. */
        if (vips_xyz(&t[0], width, height, NULL) ||
            vips_extract_band(t[0], &t[1], 0, NULL) ||
            vips_extract_band(t[0], &t[2], 1, NULL) ||
            vips_linear1(t[1], &t[3], 255.0 / width, (seed * 37) % 64, NULL) ||
            vips_linear1(t[2], &t[4], 255.0 / height, (seed * 53) % 64, NULL) ||
            vips_add(t[3], t[4], &t[5], NULL) ||
            vips_linear1(t[5], &t[6], 0.5, 0, NULL))
                goto out;
        {
                VipsImage *bands[3] = { t[3], t[4], t[6] };
                if (vips_bandjoin(bands, &t[7], 3, NULL) ||
                    vips_gaussnoise(&t[8], width, height, "sigma", 14.0, "mean", 0.0, "seed", seed, NULL) ||
                    vips_add(t[7], t[8], &t[9], NULL) ||
                    vips_cast_uchar(t[9], &t[10], NULL))
                        goto out;
        }
        vips_image_set_int(t[10], "orientation", 1);
        if (vips_jpegsave(t[10], path, "Q", 90, NULL))
                goto out;
        r = 0;
out:
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
                if (t[i])
                        g_object_unref(t[i]);
        g_object_unref(base);
        return r;
}

int main(int argc, char **argv) {
        if (VIPS_INIT(argv[0]))
                vips_error_exit(NULL);
        if (argc != 5 && argc != 6) {
                fprintf(stderr, "usage: %s DIR COUNT WIDTH HEIGHT [FIRST]\n", argv[0]);
                return 2;
        }
        int count = atoi(argv[2]), width = atoi(argv[3]), height = atoi(argv[4]);
        int first = argc == 6 ? atoi(argv[5]) : 0;
        if (count <= 0 || width <= 0 || height <= 0 || width > 20000 || height > 20000 || first < 0) {
                fprintf(stderr, "bad COUNT/WIDTH/HEIGHT/FIRST\n");
                return 2;
        }
        for (int i = first; i < count; i++) {
                char path[4096];
                snprintf(path, sizeof path, "%s/photo-%04d.jpg", argv[1], i);
                if (make_one(path, width, height, i + 1) < 0) {
                        fprintf(stderr, "%s: %s\n", path, vips_error_buffer());
                        return 1;
                }
        }
        vips_shutdown();
        return 0;
}
