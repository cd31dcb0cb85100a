/* SPDX-License-Identifier: MIT */
/*
 * lib/hash against known digests: Python's hashlib on inputs around the
 * block and padding boundaries, the FIPS 180 examples, a million 'a's, and
 * the SHA-1 that Redis gives a script (SCRIPT LOAD "return 1"); HMAC against
 * RFC 2202 and RFC 4231 and Python's hmac.
 */

#include <stdint.h>

#include "format.h"
#include "hash.h"
#include "macro.h"
#include "test.h"

static const HashAlgorithm algs[] = { HASH_MD5, HASH_SHA1, HASH_SHA256, HASH_SHA384, HASH_SHA512 };
static const char *const names[] = { "MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512" };

/* Generated with Python's hashlib: {input, MD5, SHA-1, SHA-256, SHA-384, SHA-512}. */
static const struct { const char *in; const char *hex[5]; } hash_vectors[] = {
        { "input data",
          { "812f45842bc6d66ee14572ce20db8e86",
            "aaff4a450a104cd177d28d18d74485e8cae074b7",
            "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3",
            "d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562",
            "6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4" } },
        { "",
          { "d41d8cd98f00b204e9800998ecf8427e",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e" } },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          { "ef1772b6dff9a122358552954ad0df65",
            "c1c8bbdc22796e28c0e15163d20899b65621d65a",
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
            "5d91ac7e74e62b5c728904b40f10784d66b7af9cb6302123e48c92f0432ceb8d2a92c02de77dcb29ed75c4b42bde46f4",
            "b0220c772cbf6c1822e2cb38a437d0e1d58772417a4bbb21c961364f8b6143e05aa6316dca8d1d7b19e16448419076395f6086cb55101fbd6d5497b148e1745f" } },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          { "3b0c8ac703f828b04c6c197006d17218",
            "c2db330f6083854c99d4b5bfb6e8f29f201be699",
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
            "8a8d9649ea04e993a6ca7135af7e3392cc5fca84f8531cac7aa3feed4eb98f55dcbe0f3284b61c6f35f98b02cc644b4c",
            "962b64aae357d2a4fee3ded8b539bdc9d325081822b0bfc55583133aab44f18bafe11d72a7ae16c79ce2ba620ae2242d5144809161945f1367f41b3972e26e04" } },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          { "014842d480b571495a4a0363793f7367",
            "0098ba824b5c16427bd7a1122a5a442a25ec644d",
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
            "2e404b9339da795776e510d96930b3be2904c500395b8cb7413334b82d4dec413b4b8113045a05bbbcff846f027423f6",
            "01d35c10c6c38c2dcf48f7eebb3235fb5ad74a65ec4cd016e2354c637a8fb49b695ef3c1d6f7ae4cd74d78cc9c9bcac9d4f23a73019998a7f73038a5c9b2dbde" } },
        { "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
          { "b0070ddc2601b54170fbde09da6cff2d",
            "9e9a141d08c1eddadfba282fdcdd9997021fcd29",
            "56772b647d5a52b68f7f4b577a1f8f9f901bb20d0eebb5f1006b7d337b7e3eec",
            "a47bc504cd628dbc1abac61dd4fb95c14a5ce395ce0a2ba23e29f065159ab694335cd8664a63cdc8a1b1ce318cf99187",
            "419c4a5a61a60515b115bc4c67f412b9d5e3a9b044451cccf91fd9cf917ff1488c05942ea6598d2fc40183befd85786cff8ac0bcd5fd7fff666968a198f22e21" } },
        { "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
          { "7fb848ee5850dde13e53d79c31371731",
            "7613e3edd19e38b9f5b8df789c0a948eec6a0f04",
            "2e00e3a07d2633eb2a2ae7a01effd634d3b07dfefe3189a24eccb50829c0d1f1",
            "b003f8ded297822e4acefca9d46dc977eaa4ff2ce1a629baafc4eef2e7b7eaf5224fd2b83e97398bdbc36345677f45f8",
            "fd29e3caf85c0e469f0f157a3d8dad942e776c4cf8fcd1e10fc5592af6024ade7e2c163a127cee9f6053311cae50c40d682260c8f1d4d2b63608a55a66e44f1d" } },
        { "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
          { "a1b0440c17a70df4c7dd3560c413e048",
            "eea5cd304fb8ebe3b434a06b2be809c621c9622d",
            "e5dc28d67309c1f3b41b160e5e06c7881007cde8f74949c9cf6c890ad1bdd032",
            "a22f3f5bc8764a8d57307185e800b0255afa83366eeacaf789e25f8886b27bc4d8e180d79533476ba4415662c2df3a0a",
            "1cadae2171fd051aa72f31d7d11d232d867e9823e0da1fab3f40288c46c009aba8a378454514fa6756d00c1037ffbc32b3716df881569c545a2e190ce426c79b" } },
        { "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
          { "398533d48111e9f664b1f64cb10c4b63",
            "c3efa690fa3fdd2e2526853eed670538ea127638",
            "44f8354494a5ba03ba1792a8d3e9c534c47a9181980fde7a3f44b06ef2ae7c7f",
            "f096805600f4ca46f56b08074af11e7ec1da65cc3a66457c11ae0724d0c2e3912428dbc43d4ebc1cd0d7886109b07580",
            "ae13575c5d98bfa689617bb19f0f55efdd52b39397fd620bcd1fbc03fda979e6b69bfba24698176eafe766d31c48b70273b03198064323082e04cc4eb9126310" } },
        { "h\u00e9llo \u2603",
          { "ef3e44ec264a71ab40ccc920b794ebae",
            "7aa33399372f18015dda5e0b77518366d64b862b",
            "c3a3e84b30327c8e3f04a788d8b68da3fd94c22353c5a30e3fe6ca7ebde3ab3f",
            "88ea2393c3b6f68ca1672568f00114dea8145cf5a60beeb2a72b14adece35b9fb632e516965d9ddc16e9fbd0a3eba6e1",
            "eee557365683651283be61956a2c76b5b00bb5dd551a474e1a3c7c54708b975c6307e0bead509a46227d7eaef4f08f2d5d38035973511854665227c247838cdc" } },
};

TEST(vectors) {
        char hex[HASH_HEX_MAX];

        for (size_t i = 0; i < ELEMENTSOF(hash_vectors); i++)
                for (size_t a = 0; a < ELEMENTSOF(algs); a++) {
                        hash_hex(algs[a], hash_vectors[i].in, strlen(hash_vectors[i].in), hex);
                        if (!streq(hex, hash_vectors[i].hex[a]))
                                TEST_FAIL_("%s of %zu bytes: %s != %s", names[a], strlen(hash_vectors[i].in), hex,
                                           hash_vectors[i].hex[a]);
                }
}

TEST(names) {
        HashAlgorithm alg;

        for (size_t a = 0; a < ELEMENTSOF(algs); a++) {
                ASSERT_INT_EQ(hash_from_name(names[a], &alg), 0);
                ASSERT_INT_EQ(alg, algs[a]);
        }
        ASSERT_INT_EQ(hash_from_name("sha-1", &alg), -EINVAL);
        ASSERT_INT_EQ(hash_from_name("SHA1", &alg), -EINVAL);
        ASSERT_INT_EQ(hash_from_name(NULL, &alg), -EINVAL);
}

TEST(sha1) {
        char hex[HASH_HEX_MAX];
        const char *s = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

        hash_hex(HASH_SHA1, "abc", 3, hex);
        ASSERT_STR_EQ(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
        hash_hex(HASH_SHA1, s, strlen(s), hex);
        ASSERT_STR_EQ(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
        /* Redis: SCRIPT LOAD "return 1" */
        hash_hex(HASH_SHA1, "return 1", 8, hex);
        ASSERT_STR_EQ(hex, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

TEST(million_a) {
        static const uint8_t expect[20] = {
                0x34, 0xaa, 0x97, 0x3c, 0xd4, 0xc4, 0xda, 0xa4, 0xf6, 0x1e,
                0xeb, 0x2b, 0xdb, 0xad, 0x27, 0x31, 0x65, 0x34, 0x01, 0x6f,
        };
        uint8_t d[HASH_DIGEST_MAX];
        char hex[HASH_HEX_MAX], *a = malloc(1000000);

        ASSERT_NOT_NULL(a);
        memset(a, 'a', 1000000);
        ASSERT_INT_EQ(hash_digest(HASH_SHA1, a, 1000000, d), 20);
        ASSERT_TRUE(memcmp(d, expect, 20) == 0);
        hash_hex(HASH_SHA256, a, 1000000, hex);
        ASSERT_STR_EQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
        free(a);
}

/* RFC 2202 and RFC 4231 cases (keys in hex) and two more, digests from Python's hmac:
 * {key, data, MD5, SHA-1, SHA-256, SHA-384, SHA-512}. */
static const struct { const char *key_hex, *data; const char *hex[5]; } hmac_vectors[] = {
        { "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
          "Hi There",
          { "5ccec34ea9656392457fa1ac27f08fbc",
            "b617318655057264e28bc0b6fb378c8ef146be00",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854" } },
        { "4a656665",
          "what do ya want for nothing?",
          { "750c783e6ab0b503eaa86e310a5db738",
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" } },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "Test Using Larger Than Block-Size Key - Hash Key First",
          { "bfecaf4efff90a3a668f3922fec3762d",
            "90d0dace1c1bdc957339307803160335bde6df2b",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
            "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598" } },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
          { "09b8ae7b15adbbb243aca3491b51512b",
            "217e44bb08b6e06a2d6c30f3cb9f537f97c63356",
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e",
            "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58" } },
        { "",
          "",
          { "74e6f7298a9c2d168935f58c001bad88",
            "fbdb1d1b18aa6c08324b7d64b71fb76370690e1d",
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
            "6c1f2ee938fad2e24bd91298474382ca218c75db3d83e114b3d4367776d14d3551289e75e8209cd4b792302840234adc",
            "b936cee86c9f87aa5d3c6f2e84cb5a4239a5fe50480a6ec66b70ab5b1f4ac6730c6c515421b327ec1d69402e53dfb49ad7381eb067b338fd7b0cb22247225d47" } },
        { "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b",
          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
          { "8bb60b2912c5cb514f90c42bbde7456e",
            "204a88963fa8b60e1ea667c3c2d9de00e7c235bf",
            "3c469482eb841790ea999241b8c6238f7a2df12b5bf79eb6d7ab592729ed9954",
            "6be32baaebf61a271f85be934b99121bf984559bf888820fec780231033ee19fc3236f27c9f4a3e18dfe8cde96533997",
            "4cc6f43e3f63a83e9b3389ac58c5b019f008fe93af39dc1f32930383425bb61fed1010ab353180e8e060cca175d35c60c04f8cc72930950d40a892b4be863a7b" } },
};

TEST(hmac) {
        for (size_t i = 0; i < ELEMENTSOF(hmac_vectors); i++) {
                uint8_t key[256], mac[HASH_DIGEST_MAX];
                size_t key_len = strlen(hmac_vectors[i].key_hex) / 2;
                char hex[HASH_HEX_MAX];

                for (size_t j = 0; j < key_len; j++)
                        ASSERT_INT_EQ(sscanf(hmac_vectors[i].key_hex + 2 * j, "%2hhx", &key[j]), 1);
                for (size_t a = 0; a < ELEMENTSOF(algs); a++) {
                        size_t n = hash_hmac(algs[a], key, key_len, hmac_vectors[i].data,
                                             strlen(hmac_vectors[i].data), mac);
                        format_hex(mac, n, hex);
                        if (strcmp(hex, hmac_vectors[i].hex[a]) != 0)
                                TEST_FAIL_("HMAC-%s, key of %zu bytes: %s != %s", names[a], key_len, hex,
                                           hmac_vectors[i].hex[a]);
                }
        }
}

TEST(equal) {
        ASSERT_TRUE(hash_equal("abcd", "abcd", 4));
        ASSERT_FALSE(hash_equal("abcd", "abce", 4));
        ASSERT_FALSE(hash_equal("xbcd", "abcd", 4));
        ASSERT_TRUE(hash_equal("", "", 0));
}
