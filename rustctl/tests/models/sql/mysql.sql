-- MySQL/MariaDB fixture of `rustctl model mysql ddl`, in the shape go-zero projects write:
-- an auto-increment key, ignored timestamps, a unique index and a composite one.
DROP TABLE IF EXISTS `user`;
CREATE TABLE `user` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `create_time` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  `update_time` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  `mobile` char(11) NOT NULL DEFAULT '',
  `nickname` varchar(255) NOT NULL DEFAULT '',
  `sex` tinyint(1) NOT NULL DEFAULT '0' COMMENT 'sex: 0 male, 1 female',
  `balance` decimal(10,2) NOT NULL DEFAULT '0.00',
  `score` double DEFAULT NULL,
  `info` json DEFAULT NULL,
  `birthday` date DEFAULT NULL,
  `tenant` int unsigned NOT NULL DEFAULT '0',
  `code` varchar(32) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_mobile` (`mobile`),
  UNIQUE KEY `idx_tenant_code` (`tenant`, `code`),
  KEY `idx_nickname` (`nickname`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='users';

CREATE TABLE `trial` (
  `id` varchar(32) NOT NULL COMMENT 'registry number',
  `name` varchar(255) NOT NULL,
  `status` varchar(32) NOT NULL,
  `enrolled_count` bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Unsigned integers of every width: `i64` in the row type without `--strict` (goctl's default),
-- exact unsigned types with it.
CREATE TABLE `account` (
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `level` tinyint unsigned NOT NULL DEFAULT '0',
  `seat` smallint unsigned NOT NULL,
  `points` int unsigned DEFAULT NULL,
  `quota` bigint unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_seat` (`seat`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
